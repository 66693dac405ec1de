namespace Outpost.Disk.Gpt;

/// <summary>The partition gptprio would boot and the attributes it writes back before booting.</summary>
/// <param name="Partition">The winning partition, as it was before the try was consumed.</param>
/// <param name="NewAttributes">Its attributes after consuming a try (equal to the old ones when it had none left).</param>
public sealed record BootChoice(GptPartition Partition, ulong NewAttributes)
{
    /// <summary>True when a try was consumed, so the GPT must be rewritten before booting.</summary>
    public bool ConsumedTry => NewAttributes != Partition.Attributes;
}

/// <summary>
/// The selection rule of the CoreOS/EVE GRUB <c>gptprio.next</c> command as a pure function, so
/// the agent and tests can predict which slot boots next.
/// </summary>
public static class BootSelection
{
    /// <summary>
    /// Among partitions of the usr type that have tries left or are marked successful, picks the
    /// highest priority; a tie keeps the lower partition number. If the winner has tries left,
    /// one is consumed. Returns null when no partition qualifies (GRUB then fails to boot).
    /// </summary>
    public static BootChoice? Choose(IEnumerable<GptPartition> partitions)
    {
        GptPartition? winner = null;
        foreach (var candidate in partitions.Where(p => p.TypeGuid == EvePartitions.UsrType).OrderBy(p => p.Number))
        {
            var state = candidate.State;
            // Strictly greater, so among equal priorities the lower number (seen first) stays.
            if (state.IsBootable && (winner is null || state.Priority > winner.State.Priority))
            {
                winner = candidate;
            }
        }
        if (winner is null)
        {
            return null;
        }
        var winnerState = winner.State;
        ulong newAttributes = winnerState.TriesLeft > 0
            ? (winnerState with { TriesLeft = winnerState.TriesLeft - 1 }).Encode(winner.Attributes)
            : winner.Attributes;
        return new BootChoice(winner, newAttributes);
    }
}
