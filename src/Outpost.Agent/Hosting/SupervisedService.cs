using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Timing;

namespace Outpost.Agent.Hosting;

/// <summary>
/// A subsystem's long-running loop, supervised the way an init supervises a daemon: an exception that escapes
/// <see cref="RunAsync"/> (a bug, a full disk, a vanished directory) is logged and counted, and the loop starts again
/// after a backoff. A faulted subsystem never ends the agent: a device that cannot report cannot be fixed remotely.
/// </summary>
public abstract partial class SupervisedService(AgentHealth health, TimeProvider time, ILogger logger) : BackgroundService
{
    private static readonly TimeSpan FirstRestart = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRestart = TimeSpan.FromMinutes(1);

    /// <summary>The subsystem's name in logs and counters.</summary>
    public virtual string Name => GetType().Name;

    protected TimeProvider Time { get; } = time;

    /// <summary>The loop; returning ends the service for good (nothing more to do), throwing restarts it.</summary>
    protected abstract Task RunAsync(CancellationToken stoppingToken);

    /// <summary>
    /// Work done when the host starts this service, before it starts the next one. Since .NET 10 the host runs all of
    /// <see cref="BackgroundService.ExecuteAsync"/> on the thread pool, so what later subsystems rely on at their start
    /// (the saved config on the bus, the node's state) belongs here, not at the top of <see cref="RunAsync"/>.
    /// </summary>
    protected virtual void OnStarting()
    {
    }

    public sealed override Task StartAsync(CancellationToken cancellationToken)
    {
        OnStarting();
        return base.StartAsync(cancellationToken);
    }

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = new ExponentialBackoff(FirstRestart, MaxRestart);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunAsync(stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                health.CountCrash(Name);
                var delay = backoff.NextDelay();
                LogCrashed(logger, Name, delay.TotalSeconds, e);
                try
                {
                    await Task.Delay(delay, Time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Subsystem {Name} failed; restarting it in {DelaySeconds} s")]
    private static partial void LogCrashed(ILogger logger, string name, double delaySeconds, Exception exception);
}
