using Outpost.Disk.Sysfs;

namespace Outpost.Disk.Install;

/// <summary>A whole disk the installer will not install onto, and why.</summary>
public sealed record SkippedDisk(string Name, string Reason);

/// <summary>The disks the installer may write, in the order it tries them, and the ones it passed over.</summary>
/// <param name="Candidates">Device paths (<c>/dev/sda</c>), kernel name order.</param>
public sealed record TargetDisks(IReadOnlyList<string> Candidates, IReadOnlyList<SkippedDisk> Skipped)
{
    /// <summary>One line per skipped disk, for the console before installing or in a refusal.</summary>
    public string DescribeSkipped() => string.Join("; ", Skipped.Select(s => $"{s.Name}: {s.Reason}"));
}

/// <summary>
/// Finds the disks to offer <see cref="LiveInstaller"/> from /sys/block, the kernel's list of whole disks. Passed
/// over: RAM, loop, zram, optical, floppy and network block devices and any other virtual device (nothing there
/// survives a power-off), the disk the installer booted from, read-only disks, removable media (another USB stick
/// is far more likely a second installer or someone's data than the device's disk) and drives with no medium.
/// </summary>
public static class InstallTargets
{
    private static readonly string[] VirtualPrefixes = ["loop", "ram", "zram", "sr", "fd", "nbd", "dm-", "md"];

    public static TargetDisks Discover(string bootDisk, string sysRoot = "/sys")
    {
        var sysBlock = Path.Combine(sysRoot, "block");
        var bootPath = ResolvedDevice(bootDisk);
        var candidates = new List<string>();
        var skipped = new List<SkippedDisk>();
        IEnumerable<string> entries = Directory.Exists(sysBlock) ? Directory.EnumerateFileSystemEntries(sysBlock).Order(StringComparer.Ordinal) : [];
        foreach (var entry in entries)
        {
            // sysfs writes '/' in a device name as '!' (cciss!c0d0 is /dev/cciss/c0d0); DEVNAME has the real one.
            var name = Uevent.TryRead(Path.Combine(entry, "uevent"))?.GetValueOrDefault("DEVNAME") ?? Path.GetFileName(entry).Replace('!', '/');
            var reason = SkipReason(entry, name, bootPath);
            if (reason is null)
            {
                candidates.Add("/dev/" + name);
            }
            else
            {
                skipped.Add(new SkippedDisk(name, reason));
            }
        }
        return new TargetDisks(candidates, skipped);
    }

    private static string? SkipReason(string entry, string name, string bootPath)
    {
        if ("/dev/" + name == bootPath)
        {
            return "the disk the installer booted from";
        }

        if (VirtualPrefixes.FirstOrDefault(p => name.StartsWith(p, StringComparison.Ordinal)) is { } prefix)
        {
            return $"a {prefix.TrimEnd('-')} device, not a disk that keeps the installation";
        }

        if (RealPath(entry).Contains("/devices/virtual/", StringComparison.Ordinal))
        {
            return "a virtual device, not a disk that keeps the installation";
        }

        if (Read(entry, "ro") == "1")
        {
            return "read-only";
        }

        if (Read(entry, "removable") == "1")
        {
            return "removable medium";
        }

        if (!long.TryParse(Read(entry, "size"), out var sectors) || sectors == 0)
        {
            return "no medium (size 0)";
        }

        return null;
    }

    /// <summary>/dev/disk/by-id/... names the same disk as /dev/vda; compare the device the link leads to.</summary>
    internal static string ResolvedDevice(string path)
    {
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
        }
        catch (IOException)
        {
            return path;
        }
    }

    private static string RealPath(string entry)
    {
        try
        {
            return new DirectoryInfo(entry).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? entry;
        }
        catch (IOException)
        {
            return entry;
        }
    }

    private static string? Read(string entry, string attribute)
    {
        try
        {
            return File.ReadAllText(Path.Combine(entry, attribute)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
