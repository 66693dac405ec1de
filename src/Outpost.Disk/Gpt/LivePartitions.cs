namespace Outpost.Disk.Gpt;

/// <summary>
/// The live disk (live.raw, and what the installer writes): EVE's partition numbers, names and type GUIDs, laid
/// out efi, imga, imgb, conf, persist. IMGA holds the rootfs and is "active" (0x102) so it boots; IMGB is
/// "unused" (0) and sized like IMGA so an update fits; P3 is left for the device to format on first boot.
/// </summary>
public static class LivePartitions
{
    public static IReadOnlyList<PartitionSpec> For(long espBytes, long slotBytes, long configBytes, long persistBytes) =>
    [
        new(EvePartitions.EfiNumber, EvePartitions.EfiName, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid,
            espBytes, EvePartitions.LegacyBiosBootableAttribute),
        new(EvePartitions.ImgaNumber, EvePartitions.ImgaName, EvePartitions.UsrType, EvePartitions.ImgaUniqueGuid,
            slotBytes, PartitionState.Active.Encode(0)),
        new(EvePartitions.ImgbNumber, EvePartitions.ImgbName, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid,
            slotBytes, PartitionState.Unused.Encode(0)),
        new(EvePartitions.ConfigNumber, EvePartitions.ConfigName, EvePartitions.ConfigType, EvePartitions.ConfigUniqueGuid,
            configBytes, 0),
        new(EvePartitions.PersistNumber, EvePartitions.PersistName, EvePartitions.PersistType, EvePartitions.PersistUniqueGuid,
            persistBytes, 0),
    ];
}
