namespace Outpost.Disk.Gpt;

/// <summary>One partition to lay out: its GPT entry fields and the bytes it needs (rounded up to 1 MiB when placed).</summary>
public sealed record PartitionSpec(int Number, string Name, Guid TypeGuid, Guid UniqueGuid, long SizeBytes, ulong Attributes);

/// <summary>
/// Lays partitions out as EVE's make-raw does: in the listed order from sector 2048, each rounded up to
/// 1 MiB, numbers fixed whatever the order, and 1 MiB left at the end for the backup GPT.
/// </summary>
public static class PartitionPlan
{
    public const long MiB = 1024 * 1024;

    private const long SectorsPerMiB = MiB / GptLayout.SectorSize;

    /// <summary>The smallest disk that holds <paramref name="parts"/>: 1 MiB before, 1 MiB after.</summary>
    public static GptLayout Layout(IReadOnlyList<PartitionSpec> parts)
    {
        var (partitions, next) = Place(parts);
        return new GptLayout(next * GptLayout.SectorSize + MiB, EvePartitions.DiskGuid, partitions);
    }

    /// <summary>
    /// The parts on a disk of <paramref name="diskSizeBytes"/>, the last one grown to the last whole MiB before the
    /// backup GPT (as EVE's storage-init grows P3 with sgdisk --largest-new).
    /// </summary>
    /// <exception cref="GptFormatException">The parts at their sizes do not fit; compare with <see cref="Layout(IReadOnlyList{PartitionSpec})"/> first.</exception>
    public static GptLayout Layout(IReadOnlyList<PartitionSpec> parts, long diskSizeBytes)
    {
        var (partitions, next) = Place(parts);
        var disk = new GptLayout(diskSizeBytes / GptLayout.SectorSize * GptLayout.SectorSize, EvePartitions.DiskGuid, partitions);
        var end = (disk.LastUsableLba + 1) / SectorsPerMiB * SectorsPerMiB;
        if (end < next)
        {
            throw new GptFormatException(
                $"The partitions need {next * GptLayout.SectorSize + MiB} bytes but the disk has {diskSizeBytes}; use a larger disk or smaller partitions.");
        }

        var last = partitions[^1];
        partitions[^1] = last with { LastLba = end - 1 };
        return disk;
    }

    public static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;

    private static (List<GptPartition> Partitions, long NextLba) Place(IReadOnlyList<PartitionSpec> parts)
    {
        var partitions = new List<GptPartition>();
        var next = SectorsPerMiB;
        foreach (var part in parts)
        {
            var sectors = RoundUp(part.SizeBytes, MiB) / GptLayout.SectorSize;
            partitions.Add(new GptPartition(part.Number, part.TypeGuid, part.UniqueGuid, next, next + sectors - 1, part.Attributes, part.Name));
            next += sectors;
        }
        return (partitions, next);
    }
}
