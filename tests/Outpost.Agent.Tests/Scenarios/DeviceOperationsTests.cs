using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Hosting;
using Outpost.Agent.Tests.Workloads;

namespace Outpost.Agent.Tests.Scenarios;

/// <summary>
/// EVE's DeviceOpsCmd reboot and shutdown: the first counter is a baseline, a change acts; apps are halted first;
/// after the reboot (simulated: the agent ends, the boot id changes) the device says why it booted.
/// </summary>
[Collection(RuncCollection.Name)]
public sealed class DeviceOperationsTests
{
    // Shows that it was stopped cleanly: it answers SIGTERM with a line of its own.
    private const string Graceful = "sh -c 'trap \"echo stopped-cleanly; exit 0\" TERM; echo up; while true; do sleep 1; done'";

    [Fact]
    public async Task A_reboot_counter_change_halts_the_apps_reboots_and_the_next_boot_reports_why_and_runs_the_apps_again()
    {
        await using var scenario = await AgentScenario.StartAsync();
        var app = AgentScenario.NewApp("graceful");
        uint counter = 7;
        scenario.Serve([(app, Graceful)], config => config.Reboot = new DeviceOpsCmd { Counter = counter });
        scenario.Start();
        await scenario.WaitForAppAsync(app.Uuid, ZSwState.Running);
        // The first counter the device ever sees is its baseline: reported, not acted on.
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice() is { RebootConfigCounter: 7, LastBootReason: BootReason.First, State: ZDeviceState.Online },
            "device info with the baseline reboot counter 7, first boot, online");
        var firstRestartCounter = scenario.LatestDevice()!.RestartCounter;

        counter = 8;
        Assert.Equal(AgentExitCodes.RebootRequested, await scenario.WaitForExitAsync());
        Assert.Contains(scenario.State.Infos, i => i.Dinfo is { State: ZDeviceState.Rebooting, RebootInprogress: true });
        Assert.Contains(scenario.State.Infos, i => i.Ainfo?.AppID == app.Uuid && i.Ainfo.State == ZSwState.Halted);
        Assert.DoesNotContain("\"running\"", Outpost.Agent.Tests.Apps.AppTestHost.Run("runc", "--root", Path.Combine(scenario.StateDir, "workloads", "runc"), "state", app.Uuid));

        scenario.Run.NewBoot();
        scenario.Start();
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice() is { LastBootReason: BootReason.RebootCmd } device
            && device.LastRebootReason == "Reboot requested by the controller (reboot counter 8)"
            && device.RestartCounter == firstRestartCounter + 1 && device.RebootConfigCounter == 8 && device.LastRebootTime is not null,
            "device info after the reboot: reason REBOOT_CMD, the counter acted on, one more boot");
        await scenario.WaitForAppAsync(app.Uuid, ZSwState.Running);
        await scenario.Run.WaitUntilAsync(() => scenario.State.AppLogEntries.Any(l => l.AppUuid == app.Uuid && l.Entry.Content == "stopped-cleanly"),
            "the app's own line saying it was stopped with SIGTERM");

        // The counter was saved before acting: the same counter never reboots the device again.
        var polls = scenario.State.ConfigRequests;
        await scenario.Run.WaitUntilAsync(() => scenario.State.ConfigRequests >= polls + 3, "three more config polls");
        Assert.True(scenario.IsRunning, "the agent rebooted again for a counter it had already acted on");
    }

    [Fact]
    public async Task A_shutdown_counter_change_halts_every_app_and_leaves_the_device_prepared_for_power_off()
    {
        await using var scenario = await AgentScenario.StartAsync();
        var app = AgentScenario.NewApp("graceful");
        uint counter = 0;
        scenario.Serve([(app, Graceful)], config => config.Shutdown = new DeviceOpsCmd { Counter = counter });
        scenario.Start();
        await scenario.WaitForAppAsync(app.Uuid, ZSwState.Running);
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice() is { ShutdownConfigCounter: 0, State: ZDeviceState.Online }, "the baseline shutdown counter");

        counter = 1;
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice() is { State: ZDeviceState.PreparedPoweroff, ShutdownConfigCounter: 1 },
            "device info PREPARED_POWEROFF");
        Assert.Equal(ZSwState.Halted, scenario.LatestApp(app.Uuid)!.State);
        Assert.Contains(scenario.State.Infos, i => i.Dinfo?.State == ZDeviceState.PreparingPoweroff);
        Assert.True(scenario.IsRunning, "a shutdown leaves the agent up, as EVE does");

        // Powered off and on again: the apps run, and the device says it was shut down on command.
        Assert.Equal(0, await scenario.StopAsync());
        scenario.Run.NewBoot();
        scenario.Start();
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice() is { LastBootReason: BootReason.PoweroffCmd, State: ZDeviceState.Online },
            "device info after power-on: POWEROFF_CMD");
        await scenario.WaitForAppAsync(app.Uuid, ZSwState.Running);
    }
}
