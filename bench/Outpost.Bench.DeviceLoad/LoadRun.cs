using System.Diagnostics;

namespace Outpost.Bench.DeviceLoad;

/// <summary>The measured phase's result: what was seen and over how long.</summary>
public sealed record LoadResult(LoadTally Tally, TimeSpan Elapsed, int Workers);

/// <summary>
/// The measured phase. Each worker owns a fixed slice of the fleet and walks it round-robin, sending a config
/// poll then an info post per device, one request at a time; so a device never has two requests in flight
/// (as on a real device, and its signing key is not thread-safe) and at most min(concurrency, devices)
/// requests are outstanding.
/// </summary>
public static class LoadRun
{
    /// <summary>How long requests still in flight at the deadline may take before they are abandoned.</summary>
    private static readonly TimeSpan DrainAllowance = TimeSpan.FromSeconds(15);

    public static async Task<LoadResult> RunAsync(DeviceApiClient client, IReadOnlyList<SimulatedDevice> fleet, int concurrency,
        TimeSpan duration, CancellationToken ct)
    {
        var workers = Math.Min(concurrency, fleet.Count);
        using var hardStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        hardStop.CancelAfter(duration + DrainAllowance);
        var clock = Stopwatch.StartNew();
        var tallies = await Task.WhenAll(Enumerable.Range(0, workers).Select(worker =>
            Task.Run(() => RunWorkerAsync(client, SliceOf(fleet, worker, workers), clock, duration, hardStop.Token), ct)));
        clock.Stop();
        ct.ThrowIfCancellationRequested();
        return new LoadResult(LoadTally.Merge(tallies), clock.Elapsed, workers);
    }

    private static List<SimulatedDevice> SliceOf(IReadOnlyList<SimulatedDevice> fleet, int worker, int workers) =>
        [.. Enumerable.Range(0, fleet.Count).Where(i => i % workers == worker).Select(i => fleet[i])];

    private static async Task<LoadTally> RunWorkerAsync(DeviceApiClient client, List<SimulatedDevice> devices, Stopwatch clock,
        TimeSpan duration, CancellationToken hardStop)
    {
        var tally = new LoadTally();
        for (long step = 0; clock.Elapsed < duration && !hardStop.IsCancellationRequested; step++)
        {
            var device = devices[(int)(step / 2 % devices.Count)];
            var kind = step % 2 == 0 ? RequestKind.ConfigPoll : RequestKind.InfoPost;
            // Signing is the device's cost, not the controller's, so it stays outside the timed span.
            var request = kind == RequestKind.ConfigPoll ? device.ConfigPoll() : device.InfoPost();
            var started = Stopwatch.GetTimestamp();
            try
            {
                var reply = await client.PostAsync(request.Path, request.Envelope, hardStop);
                tally.RecordAnswer(kind, (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds, (int)reply.Status);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                tally.RecordUnanswered(kind, e);
            }
        }

        return tally;
    }
}
