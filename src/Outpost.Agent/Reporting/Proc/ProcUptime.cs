using System.Globalization;

namespace Outpost.Agent.Reporting.Proc;

/// <summary>/proc/uptime: seconds since boot (first field).</summary>
public static class ProcUptime
{
    public static TimeSpan Parse(string text)
    {
        var first = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()
            ?? throw new FormatException("/proc/uptime is empty.");
        return TimeSpan.FromSeconds(double.Parse(first, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    public static TimeSpan Read(string procRoot = "/proc") => Parse(File.ReadAllText(Path.Combine(procRoot, "uptime")));
}
