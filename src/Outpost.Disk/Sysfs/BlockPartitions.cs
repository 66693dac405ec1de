namespace Outpost.Disk.Sysfs;

/// <summary>A partition as the kernel lists it under /sys/class/block.</summary>
/// <param name="Name">The kernel's name, which is also its name under /dev (<c>vda2</c>, <c>nvme0n1p2</c>).</param>
/// <param name="Disk">The whole disk it belongs to (<c>vda</c>, <c>nvme0n1</c>).</param>
/// <param name="Number">The partition number (the GPT entry's slot + 1).</param>
/// <param name="Label">The GPT partition name (PARTNAME), or null when the table has none (MBR).</param>
public sealed record BlockPartition(string Name, string Disk, int Number, string? Label)
{
    public string DevicePath => "/dev/" + Name;

    public string DiskDevicePath => "/dev/" + Disk;
}

/// <summary>
/// Lists partitions from sysfs, the way Outpost's initramfs finds its root (<c>root=PARTLABEL=IMGA</c>): every
/// <c>/sys/class/block/NAME/uevent</c> with DEVTYPE=partition. The disk is the directory above the partition's
/// real sysfs directory (<c>/sys/devices/.../block/vda/vda2</c>), which is how the kernel nests them.
/// </summary>
public static class BlockPartitions
{
    public static IReadOnlyList<BlockPartition> List(string sysRoot = "/sys")
    {
        var classBlock = Path.Combine(sysRoot, "class", "block");
        if (!Directory.Exists(classBlock))
        {
            return [];
        }

        var partitions = new List<BlockPartition>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(classBlock).Order(StringComparer.Ordinal))
        {
            if (Uevent.TryRead(Path.Combine(entry, "uevent")) is not { } uevent
                || uevent.GetValueOrDefault("DEVTYPE") != "partition"
                || !int.TryParse(uevent.GetValueOrDefault("PARTN"), out var number))
            {
                continue;
            }

            var real = RealDirectory(entry);
            var diskDirectory = Path.GetDirectoryName(real);
            if (diskDirectory is null)
            {
                continue;
            }

            var disk = Uevent.TryRead(Path.Combine(diskDirectory, "uevent"))?.GetValueOrDefault("DEVNAME") ?? Path.GetFileName(diskDirectory);
            partitions.Add(new BlockPartition(uevent.GetValueOrDefault("DEVNAME") ?? Path.GetFileName(entry), disk, number, uevent.GetValueOrDefault("PARTNAME")));
        }
        return partitions;
    }

    /// <summary>Partitions whose GPT name is <paramref name="label"/>, in kernel name order.</summary>
    public static IReadOnlyList<BlockPartition> Named(string label, string sysRoot = "/sys") =>
        List(sysRoot).Where(p => p.Label == label).ToList();

    // /sys/class/block/vda2 is a symlink into /sys/devices; its parent there is the disk.
    private static string RealDirectory(string entry)
    {
        try
        {
            return new DirectoryInfo(entry).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(entry);
        }
        catch (IOException)
        {
            return Path.GetFullPath(entry);
        }
    }
}
