using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Metrics;
using Outpost.Agent.Outbox;
using Outpost.Agent.Reporting.Proc;
using Outpost.Agent.Uplink;

namespace Outpost.Agent.Reporting;

/// <summary>Builds ZMetricMsg with cumulative device counters and, when given, per-app metrics (am). Metrics are not queued: a lost one is replaced by the next.</summary>
public sealed class MetricsCollector(
    string stateDirectory,
    UplinkStatistics uplink,
    PersistentOutbox outbox,
    Func<long> droppedLogLines,
    TimeProvider time,
    string procRoot = "/proc",
    Func<IReadOnlyList<appMetric>>? appMetrics = null)
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
        metric.MetricItems.Add(Counter("outbox.rejected", (ulong)counts.Rejected));
        metric.MetricItems.Add(Counter("outbox.delivered", (ulong)counts.Delivered));
        metric.MetricItems.Add(new MetricItem { Key = "outbox.pending.bytes", Type = MetricItemType.MetricItemGauge, Uint64Value = (ulong)outbox.TotalBytes });
        metric.MetricItems.Add(Counter("uplink.rejected.responses", (ulong)uplink.RejectedResponses));
        metric.MetricItems.Add(Counter("log.dropped", (ulong)droppedLogLines()));

        var message = new ZMetricMsg { DevID = deviceUuid, AtTimeStamp = Timestamp.FromDateTimeOffset(time.GetUtcNow()), Dm = metric };
        // Per-app usage as the app reconciler last sampled it (running apps only).
        message.Am.Add(appMetrics?.Invoke() ?? []);
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
}
