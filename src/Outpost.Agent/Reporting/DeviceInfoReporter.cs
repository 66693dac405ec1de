using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Configuration;
using Outpost.Agent.Outbox;

namespace Outpost.Agent.Reporting;

/// <summary>
/// Queues the device info whenever it changes (compared without its timestamp), whenever the desired state
/// changes, and at least every <c>timer.deviceinfo.interval</c>. A newer device info supersedes an undelivered
/// older one in the outbox.
/// </summary>
public sealed partial class DeviceInfoReporter(
    DeviceInfoCollector collector,
    PersistentOutbox outbox,
    Func<string> deviceUuid,
    Func<DesiredState> desired,
    AgentTimings timings,
    TimeProvider time,
    ILogger<DeviceInfoReporter> logger)
{
    public const string OutboxKey = "device";
    private readonly Lock _gate = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _forced = true;

    /// <summary>Sends the info at the next opportunity even when nothing changed (config change, controller epoch).</summary>
    public void ForceSend()
    {
        _forced = true;
        lock (_gate)
        {
            _wake.TrySetResult();
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        byte[]? lastQueued = null;
        var lastQueuedAt = DateTimeOffset.MinValue;
        while (!cancellationToken.IsCancellationRequested)
        {
            var state = desired();
            try
            {
                var unstamped = collector.Collect(deviceUuid(), state);
                var bytes = unstamped.ToByteArray();
                var now = time.GetUtcNow();
                var due = now - lastQueuedAt >= state.Settings.DeviceInfoInterval;
                if (_forced || due || lastQueued is null || !bytes.AsSpan().SequenceEqual(lastQueued))
                {
                    _forced = false;
                    outbox.Enqueue(OutboxKind.Info, OutboxKey, collector.Stamp(unstamped).ToByteArray());
                    lastQueued = bytes;
                    lastQueuedAt = now;
                    LogQueued(logger);
                }
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
                LogCollectFailed(logger, e.Message);
            }

            var wait = TimeSpan.FromTicks(Math.Min(timings.DeviceInfoCheckInterval.Ticks, state.Settings.DeviceInfoInterval.Ticks));
            await WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WaitAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        Task wake;
        lock (_gate)
        {
            if (_wake.Task.IsCompleted)
            {
                _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            wake = _wake.Task;
        }

        if (_forced)
        {
            return;
        }

        using var stopDelay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(wait, time, stopDelay.Token);
        await Task.WhenAny(wake, delay).ConfigureAwait(false);
        await stopDelay.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Queued device info")]
    private static partial void LogQueued(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not collect device info: {Reason}")]
    private static partial void LogCollectFailed(ILogger logger, string reason);
}
