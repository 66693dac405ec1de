using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Configuration;
using Outpost.Agent.Outbox;

namespace Outpost.Agent.Reporting;

/// <summary>
/// Queues the device info whenever it changes (compared without its timestamp) and at least every
/// <c>timer.deviceinfo.interval</c>. A newer device info supersedes an undelivered older one in the outbox. The
/// last queued info is remembered in the state directory, so a restarted agent does not send the same info again.
/// </summary>
public sealed partial class DeviceInfoReporter(
    DeviceInfoCollector collector,
    PersistentOutbox outbox,
    Func<string> deviceUuid,
    Func<DesiredState> desired,
    AgentTimings timings,
    TimeProvider time,
    ILogger<DeviceInfoReporter> logger,
    string? lastQueuedPath = null)
{
    public const string OutboxKey = "device";
    private readonly Lock _gate = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Looks for changes now instead of at the next periodic check (the desired state changed).</summary>
    public void CheckNow()
    {
        lock (_gate)
        {
            _wake.TrySetResult();
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var (lastQueued, lastQueuedAt) = LoadLastQueued();
        while (!cancellationToken.IsCancellationRequested)
        {
            var state = desired();
            try
            {
                var unstamped = collector.Collect(deviceUuid(), state);
                var bytes = unstamped.ToByteArray();
                var now = time.GetUtcNow();
                var due = now - lastQueuedAt >= state.Settings.DeviceInfoInterval;
                if (due || lastQueued is null || !bytes.AsSpan().SequenceEqual(lastQueued))
                {
                    outbox.Enqueue(OutboxKind.Info, OutboxKey, collector.Stamp(unstamped).ToByteArray());
                    lastQueued = bytes;
                    lastQueuedAt = now;
                    SaveLastQueued(bytes, now);
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

    /// <summary>File layout: 8 bytes of Unix milliseconds (little endian), then the unstamped info.</summary>
    private (byte[]? Bytes, DateTimeOffset At) LoadLastQueued()
    {
        if (lastQueuedPath is null || !File.Exists(lastQueuedPath))
        {
            return (null, DateTimeOffset.MinValue);
        }

        var content = File.ReadAllBytes(lastQueuedPath);
        return content.Length < 8
            ? (null, DateTimeOffset.MinValue)
            : (content[8..], DateTimeOffset.FromUnixTimeMilliseconds(BitConverter.ToInt64(content, 0)));
    }

    private void SaveLastQueued(byte[] bytes, DateTimeOffset at)
    {
        if (lastQueuedPath is null)
        {
            return;
        }

        var content = new byte[8 + bytes.Length];
        BitConverter.TryWriteBytes(content.AsSpan(0, 8), at.ToUnixTimeMilliseconds());
        bytes.CopyTo(content, 8);
        Persistence.AtomicFile.Write(lastQueuedPath, content);
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
