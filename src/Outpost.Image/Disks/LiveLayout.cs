using Outpost.Disk.Gpt;

namespace Outpost.Image.Disks;

/// <summary>
/// live.raw: the live partitions (<see cref="LivePartitions"/>, which the installer writes too) with their contents:
/// the ESP, rootfs.img in IMGA, config.img in CONFIG; IMGB and P3 are zeros.
/// </summary>
public static class LiveLayout
{
    public static IReadOnlyList<PartitionContent> Partitions(DiskSizes sizes, string espPath, string rootfsPath, string configPath, long slotBytes)
    {
        var specs = LivePartitions.For(sizes.EspMiB * PartitionPlan.MiB, slotBytes, sizes.ConfigMiB * PartitionPlan.MiB, sizes.PersistMiB * PartitionPlan.MiB);
        string? Content(PartitionSpec spec) => spec.Number switch
        {
            EvePartitions.EfiNumber => espPath,
            EvePartitions.ImgaNumber => rootfsPath,
            EvePartitions.ConfigNumber => configPath,
            _ => null,
        };
        return specs.Select(spec => new PartitionContent(spec, Content(spec))).ToList();
    }
}
