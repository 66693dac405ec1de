using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Configuration;
using Outpost.Agent.Outbox;
using Outpost.Agent.Reporting;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Uplink;

namespace Outpost.Agent.Tests.Reporting;

public sealed class CollectorTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Device_info_is_stable_between_collections_so_only_real_changes_are_sent()
    {
        var time = new ManualTimeProvider();
        var collector = new DeviceInfoCollector(HostFacts.Read(), _temp.Path, "1.2.3", time);
        var config = new EdgeDevConfig();
        config.ConfigItems.Add(new ConfigItem { Key = "timer.config.interval", Value = "30" });
        config.ConfigItems.Add(new ConfigItem { Key = "no.such.item", Value = "x" });
        var desired = DesiredState.From(config, "hash-1");

        var first = collector.Collect("dev-1", desired.Settings, null, null);
        time.Advance(TimeSpan.FromMinutes(1));
        var second = collector.Collect("dev-1", desired.Settings, null, null);

        Assert.Equal(first.ToByteArray(), second.ToByteArray());
        Assert.Null(first.AtTimeStamp);
        Assert.Equal(time.GetUtcNow(), collector.Stamp(first).AtTimeStamp.ToDateTimeOffset());
        Assert.Equal(ZInfoTypes.ZiDevice, first.Ztype);
        Assert.Equal("1.2.3", first.Dinfo.SwList.Single().ShortVersion);
        Assert.Equal("30", first.Dinfo.ConfigItemStatus.ConfigItems["timer.config.interval"].Value);
        Assert.True(first.Dinfo.ConfigItemStatus.UnknownConfigItems.ContainsKey("no.such.item"));
        Assert.NotEqual(first.ToByteArray(), collector.Collect("dev-1", DesiredState.Initial.Settings, null, null).ToByteArray());
    }

    [Fact]
    public void Metrics_carry_host_counters_uplink_counts_last_config_time_and_outbox_drops()
    {
        var time = new ManualTimeProvider();
        var outbox = new PersistentOutbox(Path.Combine(_temp.Path, "outbox"), 10, NullLogger<PersistentOutbox>.Instance);
        outbox.Enqueue(OutboxKind.NewLogs, null, new byte[11]);
        var uplink = new UplinkStatistics { LastConfigReceived = time.GetUtcNow() };
        uplink.Record("/api/v2/edgedevice/id/x/config", success: true, 10, 20, time.GetUtcNow());
        uplink.Record("/api/v2/edgedevice/id/x/info", success: false, 10, 0, time.GetUtcNow());
        using var logs = new Outpost.Agent.Logging.CapturedLogBuffer();
        var bus = new Outpost.Agent.Bus.StateBus();
        var collector = new MetricsCollector(_temp.Path, uplink, outbox, logs, bus, new Outpost.Agent.Persistence.StorageHealth(_temp.Path, bus, time),
            new Outpost.Agent.Hosting.AgentHealth(), time);

        var metrics = collector.Collect("dev-1");

        Assert.Equal("dev-1", metrics.DevID);
        Assert.True(metrics.Dm.CpuMetric.UpTime.Seconds > 0);
        Assert.True(metrics.Dm.DeviceMemory.MemoryMB > 0);
        Assert.Contains(metrics.Dm.Network, n => n.IName == "lo");
        Assert.True(metrics.Dm.Disk.Single().Total > 0);
        var zedcloud = metrics.Dm.Zedcloud.Single();
        Assert.Equal((1UL, 1UL), (zedcloud.Success, zedcloud.Failures));
        Assert.Equal(2, zedcloud.UrlMetrics.Count);
        Assert.Equal(time.GetUtcNow(), metrics.Dm.LastReceivedConfig.ToDateTimeOffset());
        Assert.Equal(1UL, metrics.Dm.MetricItems.Single(i => i.Key == "outbox.dropped").Uint64Value);
    }
}
