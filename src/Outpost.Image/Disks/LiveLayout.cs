using Outpost.Disk.Gpt;

namespace Outpost.Image.Disks;

/// <summary>
/// live.raw: EVE's partition numbers, names and type GUIDs, laid out efi, imga, imgb, conf, persist.
/// IMGA holds rootfs.img and is "active" (0x102); IMGB is empty and "unused" (0), sized like IMGA so an
/// update fits; P3 is zeros that the device formats on first boot.
/// </summary>
public static class LiveLayout
{
    public static IReadOnlyList<PartitionContent> Partitions(DiskSizes sizes, string espPath, string rootfsPath, string configPath, long slotBytes) =>
    [
        new(EvePartitions.EfiNumber, EvePartitions.EfiName, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid,
            sizes.EspMiB * PartitionPlan.MiB, EvePartitions.LegacyBiosBootableAttribute, espPath),
        new(EvePartitions.ImgaNumber, EvePartitions.ImgaName, EvePartitions.UsrType, EvePartitions.ImgaUniqueGuid,
            slotBytes, PartitionState.Active.Encode(0), rootfsPath),
        new(EvePartitions.ImgbNumber, EvePartitions.ImgbName, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid,
            slotBytes, PartitionState.Unused.Encode(0), null),
        new(EvePartitions.ConfigNumber, EvePartitions.ConfigName, EvePartitions.ConfigType, EvePartitions.ConfigUniqueGuid,
            sizes.ConfigMiB * PartitionPlan.MiB, 0, configPath),
        new(EvePartitions.PersistNumber, EvePartitions.PersistName, EvePartitions.PersistType, EvePartitions.PersistUniqueGuid,
            sizes.PersistMiB * PartitionPlan.MiB, 0, null),
    ];
}
