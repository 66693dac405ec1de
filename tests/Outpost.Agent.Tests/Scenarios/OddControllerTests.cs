using Outpost.Agent.Tests.Fixtures;
using Outpost.Api;

namespace Outpost.Agent.Tests.Scenarios;

/// <summary>Controllers that answer differently from Outpost's: the agent must react as EVE does, never by re-registering in a loop.</summary>
public sealed class OddControllerTests
{
    [Fact]
    public async Task A_controller_that_answers_404_on_config_is_not_registered_with_again_on_every_poll()
    {
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false);
        scenario.Run.Options = scenario.Run.Options with { ExitWhenOnline = true };
        Assert.Equal(0, await scenario.Run.RunToCompletionAsync());

        // Adam answers 404 until an operator sets a config for the device.
        scenario.State.ConfigMode = ConfigResponseMode.NotFound;
        var registers = scenario.State.RequestCount(DeviceApiPaths.Register);
        var uuids = scenario.State.RequestCount(DeviceApiPaths.Uuid);
        var polls = scenario.State.ConfigRequests;
        scenario.Run.Options = scenario.Run.Options with { ExitWhenOnline = false };
        scenario.Start();

        await scenario.Run.WaitUntilAsync(() => scenario.State.ConfigRequests >= polls + 6, "six config polls answered 404");
        Assert.Equal(registers, scenario.State.RequestCount(DeviceApiPaths.Register));
        // EVE asks /uuid again at most every 10 minutes, counted from its start: not within this test.
        Assert.Equal(uuids, scenario.State.RequestCount(DeviceApiPaths.Uuid));
    }

    [Fact]
    public async Task After_the_uuid_window_a_404_on_config_asks_uuid_again_and_registers_only_if_the_device_is_unknown()
    {
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false);
        scenario.Run.Options = scenario.Run.Options with { Timings = scenario.Run.Options.Timings with { UuidRefreshMinimum = TimeSpan.FromMilliseconds(200) } };
        scenario.Start();
        await scenario.Run.WaitUntilAsync(() => scenario.State.ConfigRequests >= 1 && scenario.DeviceUuid is not null, "the device onboarded");
        var registers = scenario.State.RequestCount(DeviceApiPaths.Register);
        var uuids = scenario.State.RequestCount(DeviceApiPaths.Uuid);

        scenario.State.ConfigMode = ConfigResponseMode.NotFound;
        await scenario.Run.WaitUntilAsync(() => scenario.State.RequestCount(DeviceApiPaths.Uuid) >= uuids + 2, "/uuid asked again twice");
        Assert.Equal(registers, scenario.State.RequestCount(DeviceApiPaths.Register));

        // Deleted on the controller: /uuid says so, and only then does the device register again.
        scenario.State.DevicesBySerial.Clear();
        scenario.State.ConfigMode = ConfigResponseMode.Honest;
        await scenario.Run.WaitUntilAsync(() => scenario.DeviceUuid is not null && scenario.State.RequestCount(DeviceApiPaths.Register) > registers,
            "the deleted device registered again");
        await scenario.Run.WaitUntilAsync(() => scenario.State.Infos.Any(i => i.DevId == scenario.DeviceUuid), "info under the new device UUID");
    }
}
