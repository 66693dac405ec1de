namespace Outpost.Disk.Sysfs;

/// <summary>
/// A sysfs <c>uevent</c> file: the KEY=VALUE lines the kernel also sends to udev (DEVNAME, DEVTYPE, PARTN,
/// PARTNAME...). Reading these instead of running blkid or lsblk keeps the device binary free of tools.
/// </summary>
public static class Uevent
{
    public static IReadOnlyDictionary<string, string> Parse(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var equals = line.IndexOf('=');
            if (equals > 0)
            {
                fields[line[..equals]] = line[(equals + 1)..].TrimEnd('\r');
            }
        }
        return fields;
    }

    /// <summary>The fields of <paramref name="path"/>, or null when it cannot be read (device gone, not sysfs).</summary>
    public static IReadOnlyDictionary<string, string>? TryRead(string path)
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
