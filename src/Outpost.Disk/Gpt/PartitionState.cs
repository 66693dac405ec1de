namespace Outpost.Disk.Gpt;

/// <summary>
/// The ChromeOS/CoreOS/EVE A/B boot fields in GPT attribute bits 48-56: priority (48-51, 0 =
/// never boot), tries left (52-55) and successful (56). EVE names four combinations by the value
/// of <c>attributes &gt;&gt; 48</c>: active 0x102, updating 0x13, inprogress 0x3, unused 0.
/// </summary>
public readonly record struct PartitionState(int Priority, int TriesLeft, bool Successful)
{
    private const int PriorityShift = 48;
    private const int TriesShift = 52;
    private const int SuccessfulShift = 56;
    private const ulong FieldMask = (0xFUL << PriorityShift) | (0xFUL << TriesShift) | (1UL << SuccessfulShift);

    /// <summary>Booted successfully and preferred (EVE 0x102).</summary>
    public static PartitionState Active => new(2, 0, true);
    /// <summary>Freshly written, gets one try at a higher priority (EVE 0x13).</summary>
    public static PartitionState Updating => new(3, 1, false);
    /// <summary>Its one try has been consumed and it is booting now (EVE 0x3).</summary>
    public static PartitionState InProgress => new(3, 0, false);
    /// <summary>Never booted (EVE 0).</summary>
    public static PartitionState Unused => new(0, 0, false);

    /// <summary>True when gptprio may boot it: tries left or already successful.</summary>
    public bool IsBootable => TriesLeft > 0 || Successful;

    /// <summary>The state packed as EVE and cgpt print it: <c>attributes &gt;&gt; 48</c> restricted to these fields.</summary>
    public int EveValue => (int)(Encode(0) >> PriorityShift);

    /// <summary>
    /// EVE's name for the state, as zboot prints it and ZInfoDevSW.partitionState carries it ("active", "updating",
    /// "inprogress", "unused"); null for any other combination, which EVE never writes and a controller would not know.
    /// </summary>
    public string? EveName => EveValue switch
    {
        0x102 => "active",
        0x13 => "updating",
        0x3 => "inprogress",
        0 => "unused",
        _ => null,
    };

    /// <summary>Reads the fields from a 64-bit attribute value.</summary>
    public static PartitionState FromAttributes(ulong attributes) => new(
        (int)((attributes >> PriorityShift) & 0xF),
        (int)((attributes >> TriesShift) & 0xF),
        ((attributes >> SuccessfulShift) & 1) != 0);

    /// <summary>
    /// Returns <paramref name="attributes"/> with the priority, tries and successful fields replaced
    /// by this state; every other bit (for example legacy BIOS bootable, reserved 57-63) is kept.
    /// </summary>
    public ulong Encode(ulong attributes)
    {
        if (Priority is < 0 or > 15 || TriesLeft is < 0 or > 15)
        {
            throw new ArgumentOutOfRangeException(nameof(attributes),
                $"Priority {Priority} and tries {TriesLeft} must each be 0-15 to fit their 4-bit fields.");
        }
        return (attributes & ~FieldMask)
            | ((ulong)Priority << PriorityShift)
            | ((ulong)TriesLeft << TriesShift)
            | ((Successful ? 1UL : 0UL) << SuccessfulShift);
    }

    public override string ToString() =>
        $"priority={Priority} tries={TriesLeft} successful={Successful} (0x{EveValue:x})";
}
