using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Tests.Workloads;

namespace Outpost.Agent.Tests.Scenarios;

/// <summary>After an outage status goes before the logs that piled up meanwhile: the controller learns what changed first.</summary>
[Collection(RuncCollection.Name)]
public sealed class OutageOrderTests
{
    [Fact]
    public async Task After_an_outage_the_status_from_the_outage_reaches_the_controller_before_the_logs_that_piled_up()
    {
        await using var scenario = await AgentScenario.StartAsync();
        var chatty = AgentScenario.NewApp("chatty");
        var blinker = AgentScenario.NewApp("blinker");
        scenario.Serve(
            [(chatty, "sh -c 'while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done'"),
             (blinker, "sleep 3600")],
            config => config.Apps.Single(a => a.Uuidandversion.Uuid == blinker.Uuid).Outpost = new OutpostAppOptions { RestartPolicy = OutpostRestartPolicy.Never });
        scenario.Start();
        await scenario.WaitForAppAsync(chatty.Uuid, ZSwState.Running);
        await scenario.WaitForAppAsync(blinker.Uuid, ZSwState.Running);

        await scenario.Controller.StopAsync();
        // During the outage the blinker dies (its status changes) while the chatty app's logs pile up.
        var outbox = Path.Combine(scenario.StateDir, "outbox");
        Outpost.Agent.Tests.Apps.AppTestHost.Run("runc", "--root", Path.Combine(scenario.StateDir, "workloads", "runc"), "kill", blinker.Uuid, "KILL");
        await scenario.Run.WaitUntilAsync(() => Directory.EnumerateFiles(outbox, $"*.info.app_{blinker.Uuid}").Any()
            && Directory.EnumerateFiles(outbox, "*.appnewlogs.*").Count() >= 20, "the blinker's new status and 20 log files queued");

        var before = scenario.State.Timeline.Count;
        await scenario.Controller.StartAsync();
        await scenario.Run.WaitUntilAsync(() => scenario.State.Timeline.Skip(before).Any(e => e == $"info:app:{blinker.Uuid}:{ZSwState.Error}"),
            "the blinker's ERROR delivered");

        var after = scenario.State.Timeline.Skip(before).ToList();
        var status = after.IndexOf($"info:app:{blinker.Uuid}:{ZSwState.Error}");
        var firstLogs = after.FindIndex(e => e.StartsWith("appnewlogs:", StringComparison.Ordinal) || e == "newlogs");
        Assert.True(firstLogs < 0 || status < firstLogs,
            $"the status came at {status}, after logs at {firstLogs}: {string.Join(", ", after.Take(status + 1))}");
    }
}
