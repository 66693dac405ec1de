using System.Diagnostics;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Tests.Workloads;
using Outpost.Oci.Registry;
using Xunit.Abstractions;

namespace Outpost.Agent.Tests.Apps;

/// <summary>Apps from a config, end to end on this host: a real docker-registry, the real content store and runc.</summary>
[Collection(RuncCollection.Name)]
public sealed class AppLifecycleTests(ITestOutputHelper output)
{
    // Prints whether /data/seen existed at boot, then leaves it behind: it tells restart (kept) from purge (gone).
    private const string Command = "sh -c 'echo \"$GREETING\"; if test -e /data/seen; then echo boot-old; else echo boot-fresh; fi; touch /data/seen; while true; do sleep 1; done'";

    [Fact]
    public async Task Deployed_app_runs_logs_restarts_purges_halts_and_is_removed()
    {
        using var registry = await TestRegistry.StartAsync();
        using var client = new RegistryClient();
        var digest = await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        await using var host = new AppTestHost();
        host.StartAgent();
        var ds = host.AddDatastore(registry.Host);
        var app = host.AddApp("hello app", ds, "demo/busybox:1", new Dictionary<string, string> { ["GREETING"] = "hello-from-app" }, Command);

        var cold = Stopwatch.StartNew();
        host.Apply();
        var running = await host.WaitForStateAsync(app.Uuid, ZSwState.Running);
        cold.Stop();
        output.WriteLine($"config change → RUNNING, cold pull: {cold.ElapsedMilliseconds} ms");

        var content = host.ContentInfo(app.Content)!;
        Assert.Equal(ZSwState.Loaded, content.State);
        Assert.Equal(digest.Hex, content.Sha256);
        Assert.True(content.Resources.CurSizeBytes > 100_000, $"content size {content.Resources.CurSizeBytes}");
        var contentStates = host.ContentStates(app.Content);
        Assert.True(Ordered(contentStates, ZSwState.ResolvingTag, ZSwState.ResolvedTag, ZSwState.DownloadStarted, ZSwState.Downloaded, ZSwState.Verifying, ZSwState.Verified, ZSwState.Loaded),
            "content states: " + string.Join(",", contentStates));
        Assert.Equal(ZSwState.CreatedVolume, host.VolumeInfo(app.Volume)!.State);
        Assert.True(Ordered(host.AppStates(app.Uuid), ZSwState.Installed, ZSwState.Booting, ZSwState.Running), string.Join(",", host.AppStates(app.Uuid)));
        Assert.Equal([app.Volume], running.VolumeRefs);
        Assert.Equal("hello app", running.AppName);
        Assert.NotNull(running.BootTime);

        await host.WaitForLogAsync(app.Uuid, l => l.Contains("hello-from-app") && l.Contains("boot-fresh"), "the greeting and boot-fresh");
        Assert.All(host.AppLogLines(app.Uuid), l => Assert.Equal("hello app", l.AppName));
        var pid = (await host.Driver.GetStatusAsync(app.Uuid, CancellationToken.None)).Pid;
        await Eventually(() => host.Bus.Topic<Outpost.Agent.Apps.AppMetrics>().Get(app.Uuid)?.Metric.AppMemory is not null, "app metrics sampled");

        // A second app on the same image: the blobs are cached, nothing is downloaded.
        var cachedApp = host.AddApp("cached", ds, "demo/busybox:1", command: "sleep 3600");
        var cached = Stopwatch.StartNew();
        host.Apply();
        await host.WaitForStateAsync(cachedApp.Uuid, ZSwState.Running);
        output.WriteLine($"config change → RUNNING, image cached: {cached.ElapsedMilliseconds} ms");

        // Restart: same writable layer, new process.
        host.App(app).Restart.Counter++;
        host.Apply();
        await host.WaitForLogAsync(app.Uuid, l => l.Contains("boot-old"), "boot-old after the restart");
        await host.WaitForStateAsync(app.Uuid, ZSwState.Running);
        var restartedPid = (await host.Driver.GetStatusAsync(app.Uuid, CancellationToken.None)).Pid;
        Assert.NotEqual(pid, restartedPid);

        // Purge: the root volume is recreated from the image and the writable layer goes: /data/seen is gone.
        host.App(app).Purge.Counter++;
        host.App(app).VolumeRefList[0].GenerationCount++;
        host.Config.Volumes.Single(v => v.Uuid == app.Volume).GenerationCount++;
        host.Apply();
        await host.WaitForLogAsync(app.Uuid, l => l.Count(x => x == "boot-fresh") == 2, "a second boot-fresh after the purge");
        await host.WaitForStateAsync(app.Uuid, ZSwState.Running);
        Assert.Equal(1, host.VolumeInfo(app.Volume)!.GenerationCount);
        // The old generation goes on the pass after the workload moved off it.
        await Eventually(() => !Directory.Exists(Path.Combine(host.StateDir, "volumes", app.Volume, "0")), "generation 0 of the volume should be removed");

        host.App(app).Activate = false;
        host.Apply();
        await host.WaitForStateAsync(app.Uuid, ZSwState.Halted);
        Assert.Equal(Outpost.Agent.Workloads.WorkloadState.Stopped, (await host.Driver.GetStatusAsync(app.Uuid, CancellationToken.None)).State);

        host.RemoveApp(app);
        host.Apply();
        await host.WaitForAppAsync(app.Uuid, i => i.State == ZSwState.Invalid && i.AppName == "", "a deletion report (only AppID)");
        Assert.DoesNotContain(app.Uuid, await host.Driver.ListAsync(CancellationToken.None));
        await Eventually(() => !Directory.Exists(Path.Combine(host.StateDir, "volumes", app.Volume)), "the removed volume's directory should be gone");
        await Eventually(() => new ZInfoVolume { Uuid = app.Volume }.Equals(host.VolumeInfo(app.Volume)), "the volume reported deleted (only uuid)");
        Assert.Equal(ZSwState.Running, host.AppInfo(cachedApp.Uuid)!.State);
    }

    [Fact]
    public async Task Bad_inputs_end_in_error_with_a_reason_while_another_app_keeps_running()
    {
        using var registry = await TestRegistry.StartAsync();
        using var secured = await TestRegistry.StartAsync("alice", "right-password");
        using var client = new RegistryClient();
        await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        await TestImages.PushAsync(client, $"{registry.Host}/demo/escape:1", [TestImages.EscapingLayer()], ["/bin/sh"]);
        await TestImages.PushArm64OnlyIndexAsync(client, $"{registry.Host}/demo/armonly:1");
        await using var host = new AppTestHost();
        host.StartAgent();
        var ds = host.AddDatastore(registry.Host);
        var good = host.AddApp("good", ds, "demo/busybox:1", command: "sleep 3600");
        host.Apply();
        await host.WaitForStateAsync(good.Uuid, ZSwState.Running);
        var pid = (await host.Driver.GetStatusAsync(good.Uuid, CancellationToken.None)).Pid;

        var unknown = host.AddApp("unknown-ds", Guid.NewGuid().ToString(), "demo/busybox:1");
        var wrongCreds = host.AddApp("wrong-creds", host.AddDatastore(secured.Host, "alice", "wrong-password"), "demo/busybox:1");
        var arm = host.AddApp("arm-only", ds, "demo/armonly:1");
        var escape = host.AddApp("escape", ds, "demo/escape:1");
        var tooBig = host.AddApp("too-big", ds, "demo/busybox:1");
        host.Config.ContentInfo.Single(c => c.Uuid == tooBig.Content).MaxSizeBytes = 1000;
        host.Apply();

        await ExpectErrorAsync(host, unknown, "Unknown datastore");
        await ExpectErrorAsync(host, wrongCreds, "refused access (401");
        await ExpectErrorAsync(host, arm, "linux/arm64");
        await ExpectErrorAsync(host, escape, "../escaped.txt");
        await ExpectErrorAsync(host, tooBig, "allows 1000 bytes");
        Assert.Equal(ZSwState.Error, host.ContentInfo(wrongCreds.Content)!.State);
        Assert.Equal(ZSwState.Error, host.VolumeInfo(escape.Volume)!.State);
        Assert.DoesNotContain("wrong-password", host.AppInfo(wrongCreds.Uuid)!.ToString());

        Assert.Equal(ZSwState.Running, host.AppInfo(good.Uuid)!.State);
        Assert.Equal(pid, (await host.Driver.GetStatusAsync(good.Uuid, CancellationToken.None)).Pid);
    }

    [Fact]
    public async Task Agent_restart_adopts_the_running_app_without_stopping_it()
    {
        using var registry = await TestRegistry.StartAsync();
        using var client = new RegistryClient();
        await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        await using var host = new AppTestHost();
        host.StartAgent();
        var app = host.AddApp("survivor", host.AddDatastore(registry.Host), "demo/busybox:1", command: "sh -c 'echo up; while true; do sleep 1; done'");
        host.Apply();
        await host.WaitForStateAsync(app.Uuid, ZSwState.Running);
        var before = await host.Driver.GetStatusAsync(app.Uuid, CancellationToken.None);

        await host.StopAgentAsync();
        host.StartAgent();
        host.Apply();
        var info = await host.WaitForStateAsync(app.Uuid, ZSwState.Running);
        var after = await host.Driver.GetStatusAsync(app.Uuid, CancellationToken.None);

        Assert.Equal(before.Pid, after.Pid);
        Assert.Equal(before.StartedAt, after.StartedAt);
        Assert.DoesNotContain(ZSwState.Booting, host.AppStates(app.Uuid).SkipWhile(s => s != ZSwState.Running).Skip(1));
        Assert.NotNull(info.BootTime);
    }

    [Fact]
    public async Task A_pull_cut_by_an_agent_kill_resumes_from_the_partial_blob()
    {
        using var registry = await TestRegistry.StartAsync();
        using var client = new RegistryClient();
        var layer = TestImages.BusyboxLayer();
        await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [layer], ["/bin/sh"]);
        await using var host = new AppTestHost();
        // What a kill mid-download leaves: the first 60 % of the layer in its .partial file.
        var gz = TestImages.Gzip(layer);
        var blobs = Directory.CreateDirectory(Path.Combine(host.StateDir, "content", "blobs", "sha256")).FullName;
        var partial = Path.Combine(blobs, Outpost.Oci.Content.OciDigest.Compute(gz).Hex + ".partial");
        await File.WriteAllBytesAsync(partial, gz.AsMemory(0, gz.Length * 6 / 10));
        // The agent starts before any config is known: that must not sweep the partial file away.
        host.StartAgent();
        await Task.Delay(500);
        var app = host.AddApp("resumed", host.AddDatastore(registry.Host), "demo/busybox:1", command: "sleep 3600");
        host.Apply();

        await host.WaitForStateAsync(app.Uuid, ZSwState.Running);

        Assert.False(File.Exists(partial), "the partial file should have been completed: " + string.Join(",", Directory.GetFiles(blobs).Select(Path.GetFileName)));
        var progress = host.ContentProgress(app.Content);
        Assert.True(progress.All(p => p == 0 || p >= 55), "a resumed download reports no progress below the partial file; saw " + string.Join(",", progress));
        Assert.Contains(progress, p => p == 100);
    }

    private static async Task ExpectErrorAsync(AppTestHost host, TestApp app, string reason)
    {
        var info = await host.WaitForAppAsync(app.Uuid, i => i.State == ZSwState.Error && i.AppErr.Any(e => e.Description.Contains(reason, StringComparison.Ordinal)),
            $"ERROR mentioning '{reason}'");
        Assert.NotNull(info.AppErr[0].Timestamp);
    }

    private static async Task Eventually(Func<bool> condition, string message)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < AppTestHost.Bound)
        {
            await Task.Delay(20);
        }

        Assert.True(condition(), message);
    }

    private static bool Ordered(IReadOnlyList<ZSwState> seen, params ZSwState[] expected)
    {
        var i = 0;
        foreach (var state in seen)
        {
            if (i < expected.Length && state == expected[i])
            {
                i++;
            }
        }

        return i == expected.Length;
    }
}
