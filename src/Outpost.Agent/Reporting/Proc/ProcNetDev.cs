using System.Globalization;

namespace Outpost.Agent.Reporting.Proc;

/// <summary>Cumulative counters of one interface from /proc/net/dev.</summary>
public sealed record InterfaceCounters(
    string Name,
    ulong RxBytes, ulong RxPackets, ulong RxErrors, ulong RxDrops,
    ulong TxBytes, ulong TxPackets, ulong TxErrors, ulong TxDrops);

/// <summary>/proc/net/dev: two header lines, then "name: 8 receive fields 8 transmit fields" per interface.</summary>
public static class ProcNetDev
{
    public static IReadOnlyList<InterfaceCounters> Parse(string text)
    {
        var result = new List<InterfaceCounters>();
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 16)
            {
                continue;
            }

            ulong F(int i) => ulong.Parse(fields[i], CultureInfo.InvariantCulture);
            result.Add(new InterfaceCounters(line[..colon].Trim(), F(0), F(1), F(2), F(3), F(8), F(9), F(10), F(11)));
        }

        return result;
    }

    public static IReadOnlyList<InterfaceCounters> Read(string procRoot = "/proc") =>
        Parse(File.ReadAllText(Path.Combine(procRoot, "net", "dev")));
}
