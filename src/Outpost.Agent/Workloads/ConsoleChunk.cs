namespace Outpost.Agent.Workloads;

/// <summary>
/// A piece of a workload's console output. Offsets count every byte the workload ever wrote,
/// across rotations, so a reader can persist <see cref="NextOffset"/> and resume there.
/// When <see cref="Offset"/> is greater than the offset asked for, the bytes in between were rotated away;
/// when it is smaller, the log was reset (the workload was recreated) and reading starts over.
/// </summary>
public sealed record ConsoleChunk(long Offset, ReadOnlyMemory<byte> Data)
{
    public long NextOffset => Offset + Data.Length;
}
