using Microsoft.Extensions.Logging;
using Outpost.Agent.Tests.Fixtures;

namespace Outpost.Agent.Tests.Uplink;

public sealed class ConfigVerificationTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly EveControllerFixture _controller = new();

    public Task InitializeAsync() => _controller.StartAsync();

    public async Task DisposeAsync() => await _controller.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(ConfigResponseMode.TamperedPayload)]
    [InlineData(ConfigResponseMode.WrongKey)]
    public async Task Config_response_that_does_not_verify_is_rejected_and_never_applied(ConfigResponseMode mode)
    {
        _controller.State.AllowedSerials["SN-CFG"] = true;
        _controller.State.ConfigMode = mode;
        var confDir = _temp.Sub("conf");
        var stateDir = _temp.Sub("state");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-CFG");
        using var run = new AgentTestRun(confDir, stateDir);
        using var stop = new CancellationTokenSource();
        var agent = run.Start(stop.Token);
        var lastConfig = Path.Combine(stateDir, "lastconfig");

        await run.WaitUntilAsync(() => _controller.State.ConfigRequests >= 3, "the agent polled config three times");
        var refusals = run.Logs.Messages(LogLevel.Warning).Count(m => m.StartsWith("Refused the controller's response", StringComparison.Ordinal));
        Assert.True(refusals >= 2, $"expected each bad config response to be refused and logged; saw {refusals}");
        Assert.False(File.Exists(lastConfig), "a config that does not verify must not be saved");
        Assert.All(_controller.State.Infos, info => Assert.Empty(info.Dinfo.ConfigItemStatus.ConfigItems));

        // The same agent applies the config as soon as the controller signs it properly.
        _controller.State.ConfigMode = ConfigResponseMode.Honest;
        await run.WaitUntilAsync(() => File.Exists(lastConfig), "the honestly signed config was saved");
        await run.WaitUntilAsync(() => _controller.State.Infos.Any(i => i.Dinfo.ConfigItemStatus.ConfigItems.ContainsKey("timer.config.interval")),
            "device info reported the accepted config item");

        await stop.CancelAsync();
        Assert.Equal(0, await agent);
    }

    [Fact]
    public async Task Restart_without_controller_reapplies_the_saved_config_after_verifying_it()
    {
        _controller.State.AllowedSerials["SN-SAVED"] = true;
        _controller.State.ConfigItems.Add(new Org.Lfedge.Eve.Config.ConfigItem { Key = "timer.metric.interval", Value = "77" });
        var confDir = _temp.Sub("conf");
        var stateDir = _temp.Sub("state");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-SAVED");
        using var run = new AgentTestRun(confDir, stateDir);
        run.Options = run.Options with { ExitWhenOnline = true };
        Assert.Equal(0, await run.RunToCompletionAsync());
        await _controller.StopAsync();

        run.Options = run.Options with { ExitWhenOnline = false };
        using var stop = new CancellationTokenSource();
        var agent = run.Start(stop.Token);
        await run.WaitUntilAsync(() => run.Logs.Lines.Any(l => l.Message.StartsWith("Re-applied the saved config", StringComparison.Ordinal)),
            "the saved config was re-applied");
        await stop.CancelAsync();
        Assert.Equal(0, await agent);
    }
}
