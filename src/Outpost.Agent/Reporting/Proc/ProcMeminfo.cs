using System.Globalization;

namespace Outpost.Agent.Reporting.Proc;

/// <summary>/proc/meminfo totals in bytes. Available memory is the kernel's MemAvailable estimate.</summary>
public sealed record ProcMeminfo(ulong TotalBytes, ulong AvailableBytes)
{
    public ulong UsedBytes => TotalBytes - Math.Min(TotalBytes, AvailableBytes);

    public static ProcMeminfo Parse(string text)
    {
        var values = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var rest = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (rest.Length == 0 || !ulong.TryParse(rest[0], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            values[line[..colon]] = rest.Length > 1 && rest[1] == "kB" ? value * 1024 : value;
        }

        if (!values.TryGetValue("MemTotal", out var total))
        {
            throw new FormatException("/proc/meminfo has no MemTotal line.");
        }

        // Kernels before 3.14 lack MemAvailable; free + buffers + cache is the classic approximation.
        var available = values.TryGetValue("MemAvailable", out var a)
            ? a
            : values.GetValueOrDefault("MemFree") + values.GetValueOrDefault("Buffers") + values.GetValueOrDefault("Cached");
        return new ProcMeminfo(total, available);
    }

    public static ProcMeminfo Read(string procRoot = "/proc") => Parse(File.ReadAllText(Path.Combine(procRoot, "meminfo")));
}
