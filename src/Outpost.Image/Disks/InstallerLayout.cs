using System.Security.Cryptography;
using System.Text;
using Outpost.Disk.Gpt;
using Outpost.Disk.Install;

namespace Outpost.Image.Disks;

/// <summary>
/// installer.raw as EVE lays out installer media: efi (booting INSTALLER), conf_win (CONFIG with the Microsoft basic
/// data type so Windows and macOS can edit it), installer (usr type, active, so the boot picks it), inventory_win
/// (empty FAT for hardware reports); then, Outpost's own, the live disk's ESP image, which the installer copies
/// verbatim onto the installed disk (<see cref="InstallerMedia"/> says why it is a partition). EVE gives conf_win and
/// inventory_win random GUIDs; here they derive from a fixed seed so the image is reproducible.
/// </summary>
public static class InstallerLayout
{
    public const int InventoryNumber = 5;
    public const string InventoryName = "INVENTORY";

    public static IReadOnlyList<PartitionContent> Partitions(
        DiskSizes sizes, string espPath, string configPath, string inventoryPath, string installerRootfsPath, long installerBytes, string liveEspPath) =>
    [
        new(new(EvePartitions.EfiNumber, EvePartitions.EfiName, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid,
            sizes.EspMiB * PartitionPlan.MiB, EvePartitions.LegacyBiosBootableAttribute), espPath),
        new(new(EvePartitions.ConfigNumber, EvePartitions.ConfigName, EvePartitions.MicrosoftBasicDataType, DerivedGuid("conf_win"),
            sizes.ConfigMiB * PartitionPlan.MiB, 0), configPath),
        new(new(EvePartitions.InstallerNumber, EvePartitions.InstallerName, EvePartitions.UsrType, EvePartitions.InstallerUniqueGuid,
            installerBytes + PartitionPlan.MiB, PartitionState.Active.Encode(0)), installerRootfsPath),
        new(new(InventoryNumber, InventoryName, EvePartitions.MicrosoftBasicDataType, DerivedGuid("inventory_win"),
            sizes.InventoryMiB * PartitionPlan.MiB, 0), inventoryPath),
        // Last, so the partitions EVE's installer media has keep their offsets.
        new(new(InstallerMedia.LiveEspNumber, InstallerMedia.LiveEspName, InstallerMedia.LiveEspType, InstallerMedia.LiveEspUniqueGuid,
            sizes.EspMiB * PartitionPlan.MiB, 0), liveEspPath),
    ];

    private static Guid DerivedGuid(string seed)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes("outpost/" + seed))[..16];
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40); // version 4 layout, as sgdisk's random GUIDs have
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes);
    }
}
