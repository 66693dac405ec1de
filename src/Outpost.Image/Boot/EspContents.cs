using Outpost.Disk.Boot;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;

namespace Outpost.Image.Boot;

/// <summary>A bootable rootfs slot as the ESP sees it: its partition name, state and kernel/initrd.</summary>
public sealed record BootSlot(string PartitionName, PartitionState State, byte[] Kernel, byte[] Initrd, string Cmdline);

/// <summary>
/// Fills the EFI System Partition: systemd-boot as the removable-media loader, loader.conf, one entry per
/// bootable slot, and each slot's kernel and initramfs under <c>EFI/outpost/SLOT/</c> (per slot, so an
/// update can bring its own kernel).
/// </summary>
public static class EspContents
{
    public static FatDirectory Build(byte[] bootManager, IEnumerable<BootSlot> slots, string osVersion)
    {
        var root = FatDirectory.CreateRoot();
        root.AddFile(BootloaderFiles.RemovableMediaPath, bootManager);
        root.AddFile("loader/loader.conf", System.Text.Encoding.ASCII.GetBytes(SystemdBootEntries.LoaderConf));
        root.AddDirectory("loader/entries");
        foreach (var slot in slots)
        {
            root.AddFile(SystemdBootEntries.KernelPath(slot.PartitionName), slot.Kernel);
            root.AddFile(SystemdBootEntries.InitrdPath(slot.PartitionName), slot.Initrd);
            if (SystemdBootEntries.For(slot.PartitionName, slot.State, osVersion, slot.Cmdline) is { } entry)
                root.AddFile($"{SystemdBootEntries.EntriesDirectory}/{entry.FileName}", System.Text.Encoding.UTF8.GetBytes(entry.Content));
        }
        return root;
    }
}
