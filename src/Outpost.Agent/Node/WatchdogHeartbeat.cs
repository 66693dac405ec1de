using Microsoft.Extensions.Logging;
using Outpost.Agent.Hosting;

namespace Outpost.Agent.Node;

/// <summary>
/// Touches a file every few seconds while the agent's host runs. On an Outpost OS image PID 1 pets the hardware
/// watchdog only while this heartbeat is fresh, so an agent whose thread pool hangs — not only a hung kernel — ends
/// in a reset. It runs on a timer of the same thread pool every other subsystem uses, so it stops when they would.
/// </summary>
public sealed class WatchdogHeartbeat(string path, AgentHealth health, TimeProvider time, ILogger<WatchdogHeartbeat> logger)
    : SupervisedService(health, time, logger)
{
    public static TimeSpan Interval { get; } = TimeSpan.FromSeconds(5);

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, Time);
        do
        {
            Beat();
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private void Beat()
    {
        try
        {
            if (!File.Exists(path)) File.WriteAllBytes(path, []);
            else File.SetLastWriteTimeUtc(path, Time.GetUtcNow().UtcDateTime);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A heartbeat that cannot be written looks like a hung agent to PID 1; that is the safe side.
        }
    }
}
