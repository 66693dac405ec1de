using System.Globalization;

namespace Outpost.Agent.Reporting.Proc;

/// <summary>
/// The parts of /proc/stat the agent reports: CPU time spent by the whole machine and the boot time.
/// </summary>
public sealed record ProcStat(double BusyCpuSeconds, DateTimeOffset BootTime)
{
    /// <summary>
    /// Linux reports /proc/stat in USER_HZ ticks, which is 100 on every architecture the kernel exposes to
    /// user space (it is fixed by the ABI, independent of CONFIG_HZ).
    /// </summary>
    public const double TicksPerSecond = 100;

    public static ProcStat Parse(string text)
    {
        double? busy = null;
        DateTimeOffset? boot = null;
        foreach (var line in text.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0)
            {
                continue;
            }

            if (fields[0] == "cpu" && fields.Length >= 5)
            {
                // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already part of
                // user/nice, and idle + iowait is time the CPU did nothing, so both are left out.
                long total = 0;
                for (var i = 1; i < Math.Min(fields.Length, 9); i++)
                {
                    if (i is 4 or 5)
                    {
                        continue;
                    }

                    total += long.Parse(fields[i], CultureInfo.InvariantCulture);
                }

                busy = total / TicksPerSecond;
            }
            else if (fields[0] == "btime" && fields.Length >= 2)
            {
                boot = DateTimeOffset.FromUnixTimeSeconds(long.Parse(fields[1], CultureInfo.InvariantCulture));
            }
        }

        return new ProcStat(
            busy ?? throw new FormatException("/proc/stat has no aggregate 'cpu' line."),
            boot ?? throw new FormatException("/proc/stat has no 'btime' line."));
    }

    public static ProcStat Read(string procRoot = "/proc") => Parse(File.ReadAllText(Path.Combine(procRoot, "stat")));
}
