using System.Globalization;

namespace Outpost.Bench.DeviceLoad;

/// <summary>Prints a run's figures as plain aligned text, easy to paste into an issue.</summary>
public static class LoadReport
{
    public static void Print(TextWriter output, LoadOptions options, string target, Fleet fleet, LoadResult result)
    {
        var tally = result.Tally;
        var seconds = result.Elapsed.TotalSeconds;
        output.WriteLine(Invariant($"controller:   {target}"));
        output.WriteLine(Invariant($"devices:      {options.Devices} (each its own P-256 key), {result.Workers} in flight at most"));
        output.WriteLine(Invariant($"setup:        {fleet.SetupTime.TotalSeconds:F1} s (register, uuid, attest NONCE+QUOTE, first config), {options.Devices / fleet.SetupTime.TotalSeconds:F0} devices/s"));
        output.WriteLine(Invariant($"measured:     {seconds:F1} s (asked {options.Duration.TotalSeconds:F0} s)"));
        output.WriteLine(Invariant($"requests:     {tally.RequestCount} total, {tally.RequestCount / seconds:F0} requests/s, {tally.ErrorCount} errors"));
        output.WriteLine();
        output.WriteLine(Invariant($"{"kind",-20} {"count",9} {"req/s",8} {"p50 ms",8} {"p90 ms",8} {"p99 ms",8} {"max ms",8}"));
        foreach (var kind in RequestKinds.All)
        {
            PrintLatencyRow(output, kind.Label(), tally.LatencyOf(kind), seconds);
        }

        PrintLatencyRow(output, "overall", tally.Overall(), seconds);
        output.WriteLine();
        if (tally.ErrorCount == 0)
        {
            output.WriteLine("errors:       none");
            return;
        }

        output.WriteLine("errors by kind and status:");
        foreach (var ((kind, outcome), count) in tally.Errors.OrderBy(e => e.Key.Kind).ThenBy(e => e.Key.Outcome, StringComparer.Ordinal))
        {
            output.WriteLine(Invariant($"  {kind.Label(),-20} {outcome,-24} {count,9}"));
        }
    }

    private static void PrintLatencyRow(TextWriter output, string label, LatencyHistogram latency, double seconds) =>
        output.WriteLine(Invariant(
            $"{label,-20} {latency.Count,9} {latency.Count / seconds,8:F0} {latency.PercentileMilliseconds(50),8:F2} {latency.PercentileMilliseconds(90),8:F2} {latency.PercentileMilliseconds(99),8:F2} {latency.MaxMicroseconds / 1000.0,8:F2}"));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
