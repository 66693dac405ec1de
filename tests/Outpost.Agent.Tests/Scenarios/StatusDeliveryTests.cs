using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Tests.Workloads;

namespace Outpost.Agent.Tests.Scenarios;

/// <summary>How status reaches the controller: what it refuses is sent again, one refusal drops nothing else, and after an outage status goes before the logs that piled up.</summary>
public sealed class StatusDeliveryTests
{
    [Fact]
    public async Task A_404_for_one_queued_info_drops_nothing_else_and_that_status_is_sent_again_later()
    {
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false);
        scenario.Run.Options = scenario.Run.Options with { Apps = scenario.Run.Options.Apps with { Enabled = false } };
        // Three apps the agent refuses (their volume is missing): each is reported as ERROR in its own info message.
        var apps = Enumerable.Range(0, 3).Select(i => Guid.NewGuid().ToString()).ToList();
        scenario.Serve([], config =>
        {
            foreach (var app in apps)
            {
                config.Apps.Add(new AppInstanceConfig
                {
                    Uuidandversion = new UUIDandVersion { Uuid = app, Version = "1" },
                    Displayname = "needs-volume",
                    VolumeRefList = { new VolumeRef { Uuid = Guid.NewGuid().ToString() } },
                });
            }
        });
        var refusals = 0;
        scenario.State.RefuseInfo = info => info.Ainfo?.AppID == apps[0] && Interlocked.Increment(ref refusals) <= 2;
        scenario.Start();

        await scenario.Run.WaitUntilAsync(() => apps.Skip(1).All(a => scenario.LatestApp(a)?.State == ZSwState.Error), "the other two apps' status delivered");
        await scenario.Run.WaitUntilAsync(() => scenario.LatestApp(apps[0])?.State == ZSwState.Error, "the refused status sent again and accepted");

        Assert.Equal(2, scenario.State.RefusedInfos.Count);
        Assert.Contains(scenario.State.Infos, i => i.Dinfo is not null);
        Assert.All(apps, a => Assert.Contains("is not in the config", scenario.LatestApp(a)!.AppErr.Single().Description));
    }
}
