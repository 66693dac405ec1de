namespace Outpost.Device.Init;

/// <summary>Finds partitions by their GPT name the way the initramfs does: the kernel puts PARTNAME in each partition's uevent.</summary>
internal static class BlockDevices
{
    /// <summary>The /dev path of the partition whose GPT name is <paramref name="partitionName"/>, or null.</summary>
    public static string? FindPartition(string partitionName, string sysRoot = "/sys")
    {
        var block = Path.Combine(sysRoot, "class", "block");
        if (!Directory.Exists(block)) return null;
        foreach (var device in Directory.EnumerateDirectories(block).Order(StringComparer.Ordinal))
        {
            var uevent = Uevent(Path.Combine(device, "uevent"));
            if (uevent.TryGetValue("PARTNAME", out var name) && name == partitionName && uevent.TryGetValue("DEVNAME", out var devName))
                return "/dev/" + devName;
        }
        return null;
    }

    /// <summary>Waits for a partition to appear (disk drivers probe asynchronously after their module loads).</summary>
    public static async Task<string?> WaitForPartitionAsync(string partitionName, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (FindPartition(partitionName) is { } found) return found;
            if (DateTime.UtcNow > deadline) return null;
            await Task.Delay(100, cancellationToken);
        }
    }

    public static Dictionary<string, string> Uevent(string path)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var line in File.ReadAllLines(path))
            {
                var equals = line.IndexOf('=');
                if (equals > 0) values[line[..equals]] = line[(equals + 1)..];
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return values;
    }
}
