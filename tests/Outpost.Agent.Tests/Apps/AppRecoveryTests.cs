using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Persistence;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Tests.Workloads;
using Outpost.Agent.Workloads;
using Outpost.Oci.Registry;

namespace Outpost.Agent.Tests.Apps;

/// <summary>Apps that must come back by themselves: after a power cut, after they exit, after the disk filled up. Real runc, a real registry.</summary>
[Collection(RuncCollection.Name)]
public sealed class AppRecoveryTests
{
    // Tells a first boot from a later one by a file left in the app's writable layer.
    private const string Remembering = "sh -c 'if test -e /data/seen; then echo boot-again; else echo boot-first; fi; touch /data/seen; while true; do sleep 1; done'";

    [Fact]
    public async Task After_a_power_cut_every_app_that_should_run_starts_again_with_its_data_and_a_halted_one_stays_down()
    {
        using var registry = await TestRegistry.StartAsync();
        using var client = new RegistryClient();
        await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        await using var host = new AppTestHost();
        host.StartAgent();
        var ds = host.AddDatastore(registry.Host);
        var survivor = host.AddApp("survivor", ds, "demo/busybox:1", command: Remembering);
        var second = host.AddApp("second", ds, "demo/busybox:1", command: "sleep 3600");
        var halted = host.AddApp("halted", ds, "demo/busybox:1", command: "sleep 3600");
        host.App(halted).Activate = false;
        host.Apply();
        await host.WaitForStateAsync(survivor.Uuid, ZSwState.Running);
        await host.WaitForStateAsync(second.Uuid, ZSwState.Running);
        await host.WaitForStateAsync(halted.Uuid, ZSwState.Halted);
        await host.WaitForLogAsync(survivor.Uuid, l => l.Contains("boot-first"), "boot-first");
        var before = await host.Driver.GetStatusAsync(survivor.Uuid, CancellationToken.None);

        await host.SimulatePowerCutAsync();
        // What a reboot leaves: runc's saved state says the container stopped (nobody recorded how), nothing is mounted.
        Assert.Contains("\"stopped\"", AppTestHost.Run("runc", "--root", Path.Combine(host.StateDir, "workloads", "runc"), "state", survivor.Uuid));
        host.StartAgent();

        var back = await host.WaitForAppAsync(survivor.Uuid, i => i.State == ZSwState.Running && i.BootTime.ToDateTimeOffset() > before.StartedAt,
            "RUNNING again after the power cut");
        await host.WaitForStateAsync(second.Uuid, ZSwState.Running);
        await host.WaitForLogAsync(survivor.Uuid, l => l.Contains("boot-again"), "boot-again: the same writable layer, the same app");
        var after = await host.Driver.GetStatusAsync(survivor.Uuid, CancellationToken.None);
        Assert.Equal(WorkloadState.Running, after.State);
        Assert.NotEqual(before.Pid, after.Pid);
        Assert.Equal(survivor.Uuid, back.AppID);
        Assert.Equal(0, host.StatusOf(survivor.Uuid)!.Restarts);
        await host.WaitForStateAsync(halted.Uuid, ZSwState.Halted);
        Assert.NotEqual(WorkloadState.Running, (await host.Driver.GetStatusAsync(halted.Uuid, CancellationToken.None)).State);
    }

    [Fact]
    public async Task An_app_that_keeps_exiting_is_restarted_with_a_doubling_delay_and_its_restarts_and_exit_code_are_reported()
    {
        using var registry = await TestRegistry.StartAsync();
        using var client = new RegistryClient();
        await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        var options = AppTestHost.Options with { RestartDelayFirst = TimeSpan.FromMilliseconds(400), RestartDelayMax = TimeSpan.FromSeconds(30) };
        await using var host = new AppTestHost(options);
        host.StartAgent();
        var crasher = host.AddApp("crasher", host.AddDatastore(registry.Host), "demo/busybox:1", command: "sh -c 'echo up; sleep 1; exit 3'");
        host.Apply();

        await host.WaitForAppAsync(crasher.Uuid, _ => host.StatusOf(crasher.Uuid) is { Restarts: >= 4, State: ZSwState.Restarting },
            "the wait after the fourth restart");

        var history = host.StatusHistory(crasher.Uuid);
        // Each wait is announced with the time it ends; the announced waits double, and no start comes before its time.
        var waits = history.Where(s => s.State == ZSwState.Restarting && s.Error is not null).Select(s => s.Error!).Distinct().ToList();
        Assert.True(waits.Count >= 4, "waits seen: " + string.Join(" | ", waits.Select(w => w.Description)));
        Assert.All(waits, w => Assert.Contains("exited with code 3; its restart policy (always) starts it again at", w.Description));
        var starts = history.Select(s => s.BootTime).OfType<DateTimeOffset>().Distinct().Order().ToList();
        var announced = waits.Select(w => DateTimeOffset.Parse(w.Description.Split(" again at ")[1].Split(" (restart")[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var gaps = announced.Zip(waits, (at, w) => at - w.At).ToList();
        for (var i = 1; i < gaps.Count; i++)
        {
            Assert.True(gaps[i] >= gaps[i - 1] * 1.9, $"wait {i} is {gaps[i].TotalMilliseconds} ms after {gaps[i - 1].TotalMilliseconds} ms: it should double");
        }

        foreach (var at in announced.SkipLast(1))
        {
            // The start that follows each announced wait comes at or after the time it named (the text has milliseconds).
            Assert.Contains(starts, s => s >= at.AddMilliseconds(-1));
        }

        Assert.True(starts.Count >= 5, "starts: " + string.Join(", ", starts));

        var last = host.StatusOf(crasher.Uuid)!;
        Assert.Equal(3, last.LastExitCode);
        Assert.Contains($"(restart {last.Restarts + 1})", last.Error!.Description);
        // While it runs after a restart, its info says how often it was restarted and how it last ended.
        Assert.Contains(history, s => s.State == ZSwState.Running
            && s.ToInfo().AppErr.Any(e => e.Description == $"Restarted {s.Restarts} time{(s.Restarts == 1 ? "" : "s")} by its restart policy; the last exit code was 3."));
    }

    [Fact]
    public async Task On_failure_leaves_a_clean_exit_down_and_never_leaves_any_exit_down()
    {
        using var registry = await TestRegistry.StartAsync();
        using var client = new RegistryClient();
        await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        var options = AppTestHost.Options with { RestartDelayFirst = TimeSpan.FromMilliseconds(200) };
        await using var host = new AppTestHost(options);
        host.StartAgent();
        var ds = host.AddDatastore(registry.Host);
        var clean = host.AddApp("clean-exit", ds, "demo/busybox:1", command: "sh -c 'echo done; exit 0'");
        var failing = host.AddApp("failing", ds, "demo/busybox:1", command: "sh -c 'exit 7'");
        var sentinel = host.AddApp("always", ds, "demo/busybox:1", command: "sh -c 'exit 0'");
        host.App(clean).Outpost = new OutpostAppOptions { RestartPolicy = OutpostRestartPolicy.OnFailure };
        host.App(failing).Outpost = new OutpostAppOptions { RestartPolicy = OutpostRestartPolicy.Never };
        host.Apply();

        await host.WaitForStateAsync(clean.Uuid, ZSwState.Halted);
        await host.WaitForAppAsync(failing.Uuid, i => i.State == ZSwState.Error && i.AppErr.Any(e => e.Description == "App failing exited with code 7."), "ERROR with exit code 7");
        // The negative check waits on an event: the default policy restarted its app twice meanwhile.
        await host.WaitForAppAsync(sentinel.Uuid, _ => host.StatusOf(sentinel.Uuid)?.Restarts >= 2, "two restarts of the app with the default policy");

        Assert.Equal((ZSwState.Halted, 0, (int?)0), (host.StatusOf(clean.Uuid)!.State, host.StatusOf(clean.Uuid)!.Restarts, host.StatusOf(clean.Uuid)!.LastExitCode));
        Assert.Equal((ZSwState.Error, 0, (int?)7), (host.StatusOf(failing.Uuid)!.State, host.StatusOf(failing.Uuid)!.Restarts, host.StatusOf(failing.Uuid)!.LastExitCode));
        Assert.Single(host.StatusHistory(clean.Uuid).Select(s => s.BootTime).OfType<DateTimeOffset>().Distinct());
    }

    [Fact]
    public async Task A_pull_that_fills_the_disk_fails_with_the_reason_and_completes_by_itself_once_space_is_back()
    {
        using var registry = await TestRegistry.StartAsync();
        using var client = new RegistryClient();
        await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        await using var host = new AppTestHost(stateSizeBytes: 64L * 1024 * 1024);
        var filler = Path.Combine(host.StateDir, "filler");
        DiskFiller.Fill(filler);
        host.StartAgent();
        var app = host.AddApp("patient", host.AddDatastore(registry.Host), "demo/busybox:1", command: "sleep 3600");
        host.Apply();

        var failed = await host.WaitForAppAsync(app.Uuid, i => i.State == ZSwState.Error && i.AppErr.Any(e => e.Description.Contains("out of disk space", StringComparison.Ordinal)),
            "ERROR saying the device is out of disk space");
        Assert.Contains("once space is freed", failed.AppErr[0].Description);
        await AppTestHost.WaitUntilAsync(() => host.Bus.Topic<StorageCondition>().Get(StorageCondition.SingletonKey) is { DiskFull: true }, "the disk-full condition on the bus");

        File.Delete(filler);

        await host.WaitForStateAsync(app.Uuid, ZSwState.Running);
        Assert.Equal(ZSwState.Loaded, host.ContentInfo(app.Content)!.State);
        await AppTestHost.WaitUntilAsync(() => host.Bus.Topic<StorageCondition>().Get(StorageCondition.SingletonKey) is { DiskFull: false },
            "the disk-full condition to clear");
    }
}
