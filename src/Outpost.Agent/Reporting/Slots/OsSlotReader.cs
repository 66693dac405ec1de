using Outpost.Agent.Reporting.Proc;
using Outpost.Disk.Gpt;
using Outpost.Disk.Sysfs;

namespace Outpost.Agent.Reporting.Slots;

/// <summary>
/// Reads the A/B slots of the disk the device booted from: the booted partition from sysfs (its GPT name is the
/// <c>root=PARTLABEL=</c> of the kernel command line), its disk (the sysfs directory above it), then that disk's
/// primary GPT from /dev, read-only and only its first 34 sectors, for both slots' states. The disk is read on every
/// call because the A/B states change while the agent runs (an update is committed, or falls back).
/// </summary>
public static class OsSlotReader
{
    private static readonly string[] SlotLabels = [EvePartitions.ImgaName, EvePartitions.ImgbName];

    /// <summary>Never throws for a missing or unreadable disk: the booted slot is then reported with what is known.</summary>
    public static OsSlots Read(HostRoots roots, string bootLabel)
    {
        IReadOnlyList<BlockPartition> partitions;
        try
        {
            partitions = BlockPartitions.List(roots.Sys);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return OnlyBooted(bootLabel, null, $"cannot list the block devices in {roots.Sys}: {e.Message}");
        }

        var booted = Booted(partitions, bootLabel, roots.Proc);
        if (booted is null)
        {
            return OnlyBooted(bootLabel, null, $"no partition named {bootLabel} is listed in /sys/class/block, so its disk is unknown");
        }

        GptLayout layout;
        try
        {
            using var disk = new FileStream(Path.Combine(roots.Dev, booted.Disk), FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
            layout = GptDisk.ReadPrimary(disk);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or GptFormatException)
        {
            return OnlyBooted(bootLabel, booted.DevicePath, $"cannot read the GPT of {booted.DiskDevicePath}: {e.Message}");
        }

        var slots = new List<OsSlot>();
        string? problem = null;
        foreach (var label in SlotLabels.OrderBy(l => l == bootLabel ? 0 : 1))
        {
            var isBooted = label == bootLabel;
            if (layout.FindByName(label) is not { } entry)
            {
                if (isBooted)
                {
                    problem = $"the GPT of {booted.DiskDevicePath} has no partition named {label}, though the kernel booted from it";
                    slots.Add(new OsSlot(label, booted.DevicePath, null, Booted: true));
                }

                // A disk without the other slot has nothing to update into; there is no slot to report.
                continue;
            }

            var device = isBooted
                ? booted.DevicePath
                : partitions.FirstOrDefault(p => p.Disk == booted.Disk && p.Number == entry.Number)?.DevicePath;
            slots.Add(new OsSlot(label, device, entry.State.EveName, isBooted));
        }

        return new OsSlots(slots, problem);
    }

    /// <summary>The whole disk (<c>DEV/vda</c>) holding the booted partition, or null when sysfs does not list it.</summary>
    public static string? BootDiskPath(HostRoots roots, string bootLabel)
    {
        try
        {
            return Booted(BlockPartitions.List(roots.Sys), bootLabel, roots.Proc) is { } booted ? Path.Combine(roots.Dev, booted.Disk) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static OsSlots OnlyBooted(string bootLabel, string? device, string problem) =>
        new([new OsSlot(bootLabel, device, null, Booted: true)], problem);

    /// <summary>
    /// With two disks carrying the label (a second Outpost disk plugged in), the booted one is the device mounted
    /// at /; failing that, the last one in kernel name order, which is the one the initramfs picks.
    /// </summary>
    private static BlockPartition? Booted(IReadOnlyList<BlockPartition> partitions, string label, string procRoot)
    {
        var named = partitions.Where(p => p.Label == label).ToList();
        if (named.Count <= 1)
        {
            return named.FirstOrDefault();
        }

        var root = RootDevice(procRoot);
        return named.FirstOrDefault(p => p.DevicePath == root) ?? named[^1];
    }

    private static string? RootDevice(string procRoot)
    {
        try
        {
            return ProcMounts.Read(procRoot).LastOrDefault(m => m.MountPoint == "/")?.Device;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
