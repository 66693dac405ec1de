using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Metrics;
using Outpost.Agent.Apps;
using Outpost.Agent.Bus;
using Outpost.Agent.Hosting;
using Outpost.Agent.Logging;
using Outpost.Agent.Outbox;
using Outpost.Agent.Persistence;
using Outpost.Agent.Reporting.Proc;
using Outpost.Agent.Uplink;

namespace Outpost.Agent.Reporting;

/// <summary>
/// Builds ZMetricMsg with cumulative device counters (and Outpost's own as metric items: what the outbox delivered,
/// refused and dropped, log lines lost, storage write failures, subsystem restarts) and the per-app metrics (am) the
/// app subsystem last sampled. Metrics are not queued: a lost one is replaced by the next.
/// </summary>
public sealed class MetricsCollector(
    string stateDirectory,
    UplinkStatistics uplink,
    PersistentOutbox outbox,
    CapturedLogBuffer logs,
    StateBus bus,
    StorageHealth storage,
    AgentHealth health,
    TimeProvider time,
    string procRoot = "/proc")
{
    public ZMetricMsg Collect(string deviceUuid)
    {
        var memory = ProcMeminfo.Read(procRoot);
        var stat = ProcStat.Read(procRoot);
        var uptime = ProcUptime.Read(procRoot);
        var disk = FileSystemUsage.Of(stateDirectory);
        const ulong Mb = 1024 * 1024;

        var metric = new deviceMetric
        {
            // appCpuMetric.upTime is a Timestamp; like EVE we carry the uptime as a duration since the epoch.
            CpuMetric = new appCpuMetric
            {
                Total = (ulong)stat.BusyCpuSeconds,
                TotalNs = (ulong)(stat.BusyCpuSeconds * 1e9),
                UpTime = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch + uptime),
            },
            Memory = new memoryMetric
            {
                UsedMem = (uint)(memory.UsedBytes / Mb),
                AvailMem = (uint)(memory.AvailableBytes / Mb),
                UsedPercentage = memory.TotalBytes == 0 ? 0 : 100.0 * memory.UsedBytes / memory.TotalBytes,
                AvailPercentage = memory.TotalBytes == 0 ? 0 : 100.0 * memory.AvailableBytes / memory.TotalBytes,
            },
            DeviceMemory = new DeviceMemoryMetric { MemoryMB = (uint)(memory.TotalBytes / Mb) },
        };

        foreach (var counters in ProcNetDev.Read(procRoot))
        {
            metric.Network.Add(new networkMetric
            {
                IName = counters.Name,
                LocalName = counters.Name,
                RxBytes = counters.RxBytes,
                RxPkts = counters.RxPackets,
                RxErrors = counters.RxErrors,
                RxDrops = counters.RxDrops,
                TxBytes = counters.TxBytes,
                TxPkts = counters.TxPackets,
                TxErrors = counters.TxErrors,
                TxDrops = counters.TxDrops,
            });
        }

        metric.Disk.Add(new diskMetric
        {
            Disk = stateDirectory,
            MountPath = stateDirectory,
            Total = disk.TotalBytes / Mb,
            Used = disk.UsedBytes / Mb,
            Free = disk.FreeBytes / Mb,
        });

        metric.Zedcloud.Add(Zedcloud());
        if (uplink.LastConfigReceived is { } received)
        {
            metric.LastReceivedConfig = Timestamp.FromDateTimeOffset(received);
        }

        var counts = outbox.Counters;
        metric.MetricItems.Add(Counter("outbox.dropped", (ulong)counts.DroppedOverQuota));
        metric.MetricItems.Add(Counter("outbox.dropped.diskfull", (ulong)counts.DroppedDiskFull));
        metric.MetricItems.Add(Counter("outbox.rejected", (ulong)counts.Rejected));
        metric.MetricItems.Add(Counter("outbox.delivered", (ulong)counts.Delivered));
        metric.MetricItems.Add(Gauge("outbox.pending.bytes", (ulong)outbox.TotalBytes));
        metric.MetricItems.Add(Gauge("outbox.pending.status", (ulong)outbox.CountIn(OutboxLane.Status)));
        metric.MetricItems.Add(Counter("uplink.rejected.responses", (ulong)uplink.RejectedResponses));
        metric.MetricItems.Add(Counter("config.refused", (ulong)uplink.RefusedConfigs));
        metric.MetricItems.Add(Counter("log.dropped", (ulong)logs.Dropped));
        metric.MetricItems.Add(Counter("log.journal.failures", (ulong)logs.JournalFailures));
        metric.MetricItems.Add(Counter("storage.write.failures", (ulong)storage.WriteFailures));
        metric.MetricItems.Add(Gauge("storage.free.bytes", disk.FreeBytes));
        foreach (var (subsystem, crashes) in health.Crashes.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            metric.MetricItems.Add(Counter("agent.restarts." + subsystem, (ulong)crashes));
        }

        var message = new ZMetricMsg { DevID = deviceUuid, AtTimeStamp = Timestamp.FromDateTimeOffset(time.GetUtcNow()), Dm = metric };
        // Per-app usage as the app subsystem last sampled it (running apps only).
        message.Am.Add(bus.Topic<AppMetrics>().Current.Values.OrderBy(m => m.Uuid, StringComparer.Ordinal).Select(m => m.Metric));
        return message;
    }

    private zedcloudMetric Zedcloud()
    {
        var zedcloud = new zedcloudMetric { IfName = "default", AuthVerifyFailure = (ulong)uplink.RejectedResponses };
        DateTimeOffset? lastSuccess = null, lastFailure = null;
        foreach (var (url, stats) in uplink.Urls.OrderBy(u => u.Key, StringComparer.Ordinal))
        {
            zedcloud.Success += (ulong)stats.Success;
            zedcloud.Failures += (ulong)stats.Failure;
            lastSuccess = Later(lastSuccess, stats.LastSuccess);
            lastFailure = Later(lastFailure, stats.LastFailure);
            zedcloud.UrlMetrics.Add(new urlcloudMetric
            {
                Url = url,
                TryMsgCount = stats.Success + stats.Failure,
                SentMsgCount = stats.Success,
                SentByteCount = stats.SentBytes,
                RecvMsgCount = stats.Success,
                RecvByteCount = stats.ReceivedBytes,
            });
        }

        if (lastSuccess is { } s)
        {
            zedcloud.LastSuccess = Timestamp.FromDateTimeOffset(s);
        }

        if (lastFailure is { } f)
        {
            zedcloud.LastFailure = Timestamp.FromDateTimeOffset(f);
        }

        return zedcloud;
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    private static MetricItem Counter(string key, ulong value) =>
        new() { Key = key, Type = MetricItemType.MetricItemCounter, Uint64Value = value };

    private static MetricItem Gauge(string key, ulong value) =>
        new() { Key = key, Type = MetricItemType.MetricItemGauge, Uint64Value = value };
}
