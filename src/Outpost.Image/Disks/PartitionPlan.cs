using Outpost.Disk.Gpt;

namespace Outpost.Image.Disks;

/// <summary>What goes into one partition: a file to copy in (or nothing: zeros), and its GPT entry fields.</summary>
public sealed record PartitionContent(int Number, string Name, Guid TypeGuid, Guid UniqueGuid, long SizeBytes, ulong Attributes, string? ContentPath);

/// <summary>
/// Lays partitions out as EVE's make-raw does: in the listed order from sector 2048, each rounded up to
/// 1 MiB, numbers fixed whatever the order, and 1 MiB left at the end for the backup GPT.
/// </summary>
public static class PartitionPlan
{
    public const long MiB = 1024 * 1024;

    public static GptLayout Layout(IReadOnlyList<PartitionContent> parts)
    {
        var partitions = new List<GptPartition>();
        var next = MiB / GptLayout.SectorSize;
        foreach (var part in parts)
        {
            var sectors = RoundUp(part.SizeBytes, MiB) / GptLayout.SectorSize;
            partitions.Add(new GptPartition(part.Number, part.TypeGuid, part.UniqueGuid, next, next + sectors - 1, part.Attributes, part.Name));
            next += sectors;
        }
        return new GptLayout(next * GptLayout.SectorSize + MiB, EvePartitions.DiskGuid, partitions);
    }

    public static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;
}
