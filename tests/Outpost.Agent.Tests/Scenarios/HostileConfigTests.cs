using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Tests.Workloads;
using Outpost.Api.Configuration;

namespace Outpost.Agent.Tests.Scenarios;

/// <summary>
/// A config the agent must refuse, from a controller that does not check it (the fixture, like any EVE controller
/// might): an object is refused alone with its reason while the rest keeps running; a config for another device or
/// beyond the bounds is refused whole and the last good one keeps running. Nothing ever lands outside the state dir.
/// </summary>
[Collection(RuncCollection.Name)]
public sealed class HostileConfigTests
{
    [Theory]
    [InlineData("../../escaped-by-dotdot")]
    [InlineData("/tmp/outpost-escaped-absolute")]
    public async Task An_object_whose_id_is_a_path_is_refused_with_its_reason_and_the_other_apps_run(string hostileId)
    {
        await using var scenario = await AgentScenario.StartAsync();
        var good = AgentScenario.NewApp("good");
        var escapee = Path.GetFullPath(Path.Combine(scenario.StateDir, "apps", hostileId));
        scenario.Serve([(good, "sleep 3600")], config =>
        {
            // The same id for the hostile app, its volume and its content tree: each would become a directory name.
            config.ContentInfo.Add(new ContentTree { Uuid = hostileId, DsIdsList = { scenario.DatastoreId }, URL = "demo/busybox:1", Iformat = Format.Container });
            config.Volumes.Add(new Volume { Uuid = hostileId, Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = hostileId } });
            config.Apps.Add(new AppInstanceConfig
            {
                Uuidandversion = new UUIDandVersion { Uuid = hostileId, Version = "1" },
                Displayname = "hostile",
                Activate = true,
                VolumeRefList = { new VolumeRef { Uuid = hostileId } },
            });
        });
        scenario.Start();

        await scenario.WaitForAppAsync(good.Uuid, ZSwState.Running);
        await scenario.Run.WaitUntilAsync(() => scenario.LatestApp(hostileId) is { State: ZSwState.Error } hostile
            && hostile.AppErr.Any(e => e.Description.Contains("is not a UUID", StringComparison.Ordinal)), "the hostile app reported as ERROR with its reason");
        Assert.Contains(scenario.State.Infos, i => i.Vinfo?.Uuid == hostileId && i.Vinfo.State == ZSwState.Error);
        Assert.Contains(scenario.State.Infos, i => i.Cinfo?.Uuid == hostileId && i.Cinfo.State == ZSwState.Error);
        Assert.Contains(scenario.Run.Logs.Messages(LogLevel.Warning), m => m.Contains("is refused: its id", StringComparison.Ordinal));

        Assert.False(Path.Exists(escapee), $"{escapee} was created outside the state directory");
        Assert.False(Path.Exists(Path.GetFullPath(Path.Combine(scenario.StateDir, "volumes", hostileId))), "a volume directory escaped");
        Assert.False(Path.Exists(Path.GetFullPath(Path.Combine(scenario.StateDir, "workloads", "workloads", hostileId))), "a workload directory escaped");
        Assert.All(Directory.EnumerateDirectories(Path.Combine(scenario.StateDir, "apps")), d => Assert.Equal(good.Uuid, Path.GetFileName(d)));
    }

    [Fact]
    public async Task A_config_naming_another_device_is_refused_whole_and_the_last_good_one_keeps_running()
    {
        await using var scenario = await AgentScenario.StartAsync();
        var good = AgentScenario.NewApp("good");
        scenario.Serve([(good, "sleep 3600")]);
        scenario.Start();
        await scenario.WaitForAppAsync(good.Uuid, ZSwState.Running);

        var stranger = Guid.NewGuid().ToString();
        scenario.Serve([], config => config.Id.Uuid = stranger);
        await ExpectRefusedAsync(scenario, $"is for device '{stranger}', not for this device");

        await ExpectStillRunningAsync(scenario, good.Uuid);
    }

    [Fact]
    public async Task A_config_with_ten_thousand_apps_is_refused_whole_and_the_last_good_one_keeps_running()
    {
        await using var scenario = await AgentScenario.StartAsync();
        var good = AgentScenario.NewApp("good");
        scenario.Serve([(good, "sleep 3600")]);
        scenario.Start();
        await scenario.WaitForAppAsync(good.Uuid, ZSwState.Running);

        var many = Enumerable.Range(0, 10_000).Select(i => AgentScenario.NewApp("app-" + i)).ToList();
        scenario.Serve([], config =>
        {
            foreach (var app in many)
            {
                config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = app.Uuid, Version = "1" }, Displayname = app.Name });
            }
        });
        await ExpectRefusedAsync(scenario, $"The config has 10000 apps; a device takes at most {ConfigBounds.MaxApps}.");

        await ExpectStillRunningAsync(scenario, good.Uuid);
        Assert.Single(Directory.EnumerateDirectories(Path.Combine(scenario.StateDir, "apps")));
    }

    [Fact]
    public async Task A_config_with_a_100_MB_user_data_is_refused_unread_and_the_last_good_one_keeps_running()
    {
        await using var scenario = await AgentScenario.StartAsync();
        var good = AgentScenario.NewApp("good");
        scenario.Serve([(good, "sleep 3600")]);
        scenario.Start();
        await scenario.WaitForAppAsync(good.Uuid, ZSwState.Running);
        var requests = scenario.State.ConfigRequests;

        var huge = new string('A', 100 * 1024 * 1024);
        scenario.Serve([(good, "sleep 3600")], config => config.Apps[0].UserData = huge);
        await scenario.Run.WaitUntilAsync(() => scenario.Run.Logs.Lines.Any(l => l.Message.Contains("larger than the 32 MiB the agent accepts", StringComparison.Ordinal)),
            "the oversized config response refused");

        await ExpectStillRunningAsync(scenario, good.Uuid, requests);
    }

    [Fact]
    public async Task An_app_whose_user_data_passes_the_response_limit_but_not_the_per_app_bound_is_refused_alone()
    {
        await using var scenario = await AgentScenario.StartAsync();
        var good = AgentScenario.NewApp("good");
        var big = AgentScenario.NewApp("big");
        scenario.Serve([(good, "sleep 3600"), (big, "sleep 3600")], config => config.Apps.Single(a => a.Uuidandversion.Uuid == big.Uuid).UserData =
            Convert.ToBase64String(new byte[1024 * 1024]));
        scenario.Start();

        await scenario.WaitForAppAsync(good.Uuid, ZSwState.Running);
        await scenario.Run.WaitUntilAsync(() => scenario.LatestApp(big.Uuid) is { State: ZSwState.Error } app
            && app.AppErr.Any(e => e.Description.Contains($"at most {ConfigBounds.MaxUserDataBytes} bytes", StringComparison.Ordinal)), "the big app refused with its reason");
    }

    private static Task ExpectRefusedAsync(AgentScenario scenario, string reason) =>
        scenario.Run.WaitUntilAsync(() => scenario.Run.Logs.Messages(LogLevel.Error).Any(m => m.StartsWith("Refused config", StringComparison.Ordinal) && m.Contains(reason, StringComparison.Ordinal)),
            "the config refused for: " + reason);

    /// <summary>The agent kept polling after the refusal and the app it ran before still runs, untouched.</summary>
    private static async Task ExpectStillRunningAsync(AgentScenario scenario, string app, int? requestsBefore = null)
    {
        var polls = requestsBefore ?? scenario.State.ConfigRequests;
        await scenario.Run.WaitUntilAsync(() => scenario.State.ConfigRequests >= polls + 2, "two more config polls");
        var state = Outpost.Agent.Tests.Apps.AppTestHost.Run("runc", "--root", Path.Combine(scenario.StateDir, "workloads", "runc"), "state", app);
        Assert.Contains("\"running\"", state);
        Assert.Equal(ZSwState.Running, scenario.LatestApp(app)!.State);
        Assert.True(scenario.IsRunning, "the agent is still running");
    }
}
