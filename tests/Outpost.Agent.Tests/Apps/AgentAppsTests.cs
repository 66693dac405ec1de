using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Tests.Workloads;
using Outpost.Oci.Registry;

namespace Outpost.Agent.Tests.Apps;

/// <summary>The whole agent against the EVE-spec fixture controller: apps from the config reach the controller as info and app logs.</summary>
[Collection(RuncCollection.Name)]
public sealed class AgentAppsTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private readonly EveControllerFixture _controller = new();

    public Task InitializeAsync() => _controller.StartAsync();

    public async Task DisposeAsync()
    {
        await _controller.DisposeAsync();
        await AppTestHost.CleanUpContainersAsync(Path.Combine(_temp.Path, "state"), _temp.Path);
        _temp.Dispose();
    }

    [Fact]
    public void Metrics_carry_the_apps_metrics_as_am()
    {
        var metric = new Org.Lfedge.Eve.Metrics.appMetric { AppID = "a1", AppName = "x", AppMemory = new Org.Lfedge.Eve.Metrics.AppMemoryMetric { AllocatedMB = 64, UsedMB = 3 } };
        var outbox = new Outpost.Agent.Outbox.PersistentOutbox(_temp.Sub("outbox"), 1 << 20, Microsoft.Extensions.Logging.Abstractions.NullLogger<Outpost.Agent.Outbox.PersistentOutbox>.Instance);
        var bus = new Outpost.Agent.Bus.StateBus();
        bus.Topic<Outpost.Agent.Apps.AppMetrics>().Publish(new Outpost.Agent.Apps.AppMetrics("a1", metric));
        using var logs = new Outpost.Agent.Logging.CapturedLogBuffer();
        var collector = new Outpost.Agent.Reporting.MetricsCollector(_temp.Path, new Outpost.Agent.Uplink.UplinkStatistics(), outbox, logs, bus,
            new Outpost.Agent.Persistence.StorageHealth(_temp.Path, bus, TimeProvider.System), new Outpost.Agent.Hosting.AgentHealth(), TimeProvider.System);

        var message = collector.Collect("dev");

        Assert.Equal([metric], message.Am);
        Assert.NotNull(message.Dm);
    }

    [Fact]
    public async Task Agent_runs_an_app_from_its_config_and_reports_info_and_app_logs()
    {
        using var registry = await TestRegistry.StartAsync();
        using var client = new RegistryClient();
        await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        var app = new TestApp(Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), "agent app");
        var datastoreId = Guid.NewGuid().ToString();
        _controller.State.ExtendConfig = config =>
        {
            config.Datastores.Add(new DatastoreConfig { Id = datastoreId, DType = DsType.DsContainerRegistry, Fqdn = "docker://" + registry.Host });
            AppTestHost.AddAppTo(config, app, datastoreId, "demo/busybox:1", command: "sh -c 'echo hello-from-agent; while true; do sleep 1; done'");
        };
        _controller.State.AllowedSerials["SN-APPS"] = true;
        var confDir = _temp.Sub("conf");
        var stateDir = _temp.Sub("state");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-APPS");
        using var run = new AgentTestRun(confDir, stateDir);
        run.Options = run.Options with { Apps = AppTestHost.Options };
        using var stop = new CancellationTokenSource();
        var agent = run.Start(stop.Token);

        await run.WaitUntilAsync(() => _controller.State.Infos.Any(i => i.Ainfo?.AppID == app.Uuid && i.Ainfo.State == ZSwState.Running),
            "the controller got ZInfoApp RUNNING");
        Assert.Contains(_controller.State.Infos, i => i.Ztype == ZInfoTypes.ZiContentTree && i.Cinfo.Uuid == app.Content && i.Cinfo.State == ZSwState.Loaded);
        Assert.Contains(_controller.State.Infos, i => i.Ztype == ZInfoTypes.ZiVolume && i.Vinfo.Uuid == app.Volume && i.Vinfo.State == ZSwState.CreatedVolume);
        await run.WaitUntilAsync(() => _controller.State.AppLogEntries.Any(l => l.AppUuid == app.Uuid && l.AppName == "agent app" && l.Entry.Content == "hello-from-agent"),
            "the app's console line arrived as app newlogs");

        await stop.CancelAsync();
        Assert.Equal(0, await agent);
        // Stopping the agent leaves the app running.
        var state = AppTestHost.Run("runc", "--root", Path.Combine(stateDir, "workloads", "runc"), "state", app.Uuid);
        Assert.Contains("\"running\"", state);
    }
}
