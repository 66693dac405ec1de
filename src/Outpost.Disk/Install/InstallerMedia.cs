using Outpost.Disk.Gpt;
using Outpost.Disk.Sysfs;

namespace Outpost.Disk.Install;

/// <summary>
/// What the installer reads from installer.raw, which the image builder lays out as EVE's installer media (efi,
/// conf_win, INSTALLER, INVENTORY) plus one partition of Outpost's own: the live disk's ESP image, carried verbatim.
/// </summary>
/// <remarks>
/// The live ESP travels as its own partition rather than as a file in the INVENTORY FAT: it is copied and verified as
/// bytes like every other partition (no FAT reader in the copy path), it cannot be edited or deleted by a desktop OS
/// that mounts the media's FAT partitions, and INVENTORY stays what EVE uses it for, hardware reports. Its type GUID
/// is Outpost's own rather than EFI System, so firmware never boots it (its loader entry would look for IMGA) and no
/// OS mounts it.
/// </remarks>
public static class InstallerMedia
{
    /// <summary>Number 7: EVE keeps 1-8 for system partitions and uses 7 only on live disks (efi_b), never on installer media.</summary>
    public const int LiveEspNumber = 7;
    public const string LiveEspName = "LIVE_EFI";

    /// <summary>Outpost's "live ESP image" partition type: unknown to firmware and to every OS, on purpose.</summary>
    public static readonly Guid LiveEspType = new("2097d8a4-8cb4-4831-a079-07172df83280");
    public static readonly Guid LiveEspUniqueGuid = new("3f172620-db70-46fb-a4ab-d93d2713ef5f");

    /// <summary>
    /// The disk the installer booted from: the one holding the INSTALLER partition (its root), found in sysfs as the
    /// initramfs found the root. For the init to pass to <see cref="LiveInstaller"/> and <see cref="InstallTargets"/>.
    /// </summary>
    /// <exception cref="NotAnInstallerDiskException">No partition named INSTALLER is listed.</exception>
    public static string FindBootDisk(string sysRoot = "/sys")
    {
        // With two installer sticks plugged in, the initramfs booted the last match; so does this.
        var partition = BlockPartitions.Named(EvePartitions.InstallerName, sysRoot).LastOrDefault()
            ?? throw new NotAnInstallerDiskException(
                $"No partition named {EvePartitions.InstallerName} is listed in {sysRoot}/class/block, so the installer cannot tell which disk it booted from. Boot from an Outpost installer.raw.");
        return partition.DiskDevicePath;
    }
}
