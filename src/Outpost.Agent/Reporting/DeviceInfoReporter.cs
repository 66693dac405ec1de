using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Hosting;
using Outpost.Agent.Node;
using Outpost.Agent.Persistence;
using Outpost.Agent.Uplink;

namespace Outpost.Agent.Reporting;

/// <summary>
/// Sends the device info (ZInfoDevice) whenever it changes (compared without its timestamp; the node's state, the
/// storage condition and the config items feed it from the bus) and at least every <c>timer.deviceinfo.interval</c>.
/// What the controller last accepted is remembered in STATE/info.device.last, so a restarted agent does not send the
/// same info again; what was only queued does not count, so an info lost or refused is sent again.
/// </summary>
public sealed partial class DeviceInfoReporter(
    DeviceInfoCollector collector,
    StatusChannel channel,
    StateBus bus,
    StorageHealth storage,
    OnboardedDevice device,
    AgentOptions options,
    AgentHealth health,
    ILogger<DeviceInfoReporter> logger) : SupervisedService(health, options.TimeProvider, logger)
{
    public const string OutboxKey = "device";
    private readonly string _acceptedPath = Path.Combine(options.StateDir, "info.device.last");
    private DateTimeOffset _acceptedAt = DateTimeOffset.MinValue;
    private bool _diskFull;

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        LoadAccepted();
        channel.Accepted += OnAccepted;
        try
        {
            var desired = bus.Topic<DeviceDesired>();
            var node = bus.Topic<NodeStatus>();
            var condition = bus.Topic<StorageCondition>();
            var update = bus.Topic<BaseOs.OsUpdateStatus>();
            using var watch = StateBus.Watch(desired, node, condition, update);
            while (true)
            {
                var settings = desired.Get(DeviceDesired.SingletonKey)?.Settings ?? ConfigItemSettings.Defaults;
                if (device.Uuid is { } uuid)
                {
                    try
                    {
                        // Free space is looked at here too, so the disk-full condition also clears when nothing writes.
                        var storageNow = storage.Evaluate();
                        if (storageNow.DiskFull != _diskFull)
                        {
                            _diskFull = storageNow.DiskFull;
                            if (_diskFull)
                            {
                                LogDiskFull(logger, storageNow.FreeBytes, storageNow.LastError ?? "free space below the minimum");
                            }
                            else
                            {
                                LogDiskRecovered(logger, storageNow.FreeBytes);
                            }
                        }

                        var info = collector.Collect(uuid, settings, node.Get(NodeStatus.SingletonKey), storageNow, update.Get(BaseOs.OsUpdateStatus.SingletonKey));
                        var due = Time.GetUtcNow() - _acceptedAt >= settings.DeviceInfoInterval;
                        if (channel.Offer(OutboxKey, info, force: due && !channel.IsQueued(OutboxKey)))
                        {
                            LogQueued(logger);
                        }
                    }
                    catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
                    {
                        LogCollectFailed(logger, e.Message);
                    }
                }

                var wait = TimeSpan.FromTicks(Math.Min(options.Timings.DeviceInfoCheckInterval.Ticks, settings.DeviceInfoInterval.Ticks));
                await watch.WaitAsync(wait, Time, stoppingToken).ConfigureAwait(false);
            }
        }
        finally
        {
            channel.Accepted -= OnAccepted;
        }
    }

    /// <summary>File layout: 8 bytes of Unix milliseconds (little endian), then the unstamped info the controller accepted.</summary>
    private void LoadAccepted()
    {
        try
        {
            if (AtomicFile.TryRead(_acceptedPath) is { Length: >= 8 } content)
            {
                _acceptedAt = DateTimeOffset.FromUnixTimeMilliseconds(BitConverter.ToInt64(content, 0));
                channel.Remember(OutboxKey, content[8..]);
            }
        }
        catch (IOException e)
        {
            LogCollectFailed(logger, e.Message);
        }
    }

    private void OnAccepted(string key, byte[] unstamped)
    {
        if (key != OutboxKey)
        {
            return;
        }

        _acceptedAt = Time.GetUtcNow();
        var content = new byte[8 + unstamped.Length];
        BitConverter.TryWriteBytes(content.AsSpan(0, 8), _acceptedAt.ToUnixTimeMilliseconds());
        unstamped.CopyTo(content, 8);
        try
        {
            AtomicFile.Write(_acceptedPath, content);
        }
        catch (IOException e) when (StorageHealth.IsStorageFailure(e))
        {
            // Only costs one repeated device info after the next restart.
            storage.Failed("device info", e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The state directory's file system is full ({FreeBytes} bytes free; {Reason}): logs are dropped first, status and config go on; free space on the device")]
    private static partial void LogDiskFull(ILogger logger, ulong freeBytes, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "The state directory's file system has room again ({FreeBytes} bytes free)")]
    private static partial void LogDiskRecovered(ILogger logger, ulong freeBytes);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Queued device info")]
    private static partial void LogQueued(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not collect device info: {Reason}")]
    private static partial void LogCollectFailed(ILogger logger, string reason);
}
