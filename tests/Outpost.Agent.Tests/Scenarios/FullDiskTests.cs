using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Api.Signing;

namespace Outpost.Agent.Tests.Scenarios;

/// <summary>
/// The state directory on a small tmpfs, filled from outside while the agent runs: it must not crash, must keep its
/// config loop and its status going, must say the disk is full, and must recover by itself when space returns. And
/// on a loop-mounted ext4 shut down under it (every operation EIO, as a dying disk): it must run on from memory.
/// </summary>
public sealed class FullDiskTests
{
    private const long StateSize = 48L * 1024 * 1024;

    [Fact]
    public async Task With_the_disk_full_while_logging_the_agent_runs_on_reports_low_disk_space_and_recovers_when_space_returns()
    {
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false, stateSizeBytes: StateSize);
        scenario.Run.Options = scenario.Run.Options with { Apps = scenario.Run.Options.Apps with { Enabled = false } };
        scenario.Start();
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice() is { State: ZDeviceState.Online }, "the device online");

        var filler = Path.Combine(scenario.StateDir, "filler");
        DiskFiller.Fill(filler);
        var polls = scenario.State.ConfigRequests;
        // Every config poll logs, and every log line goes to the journal first: those writes now fail.
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice() is { } device && device.MaintenanceModeReasons.Contains(MaintenanceModeReason.LowDiskSpace),
            "device info saying LOW_DISK_SPACE");
        await scenario.Run.WaitUntilAsync(() => scenario.State.ConfigRequests >= polls + 3, "the config loop going on while the disk is full");
        Assert.DoesNotContain(scenario.Run.Logs.Messages(LogLevel.Error), m => m.StartsWith("Subsystem", StringComparison.Ordinal));

        File.Delete(filler);
        var recovered = DateTimeOffset.UtcNow;
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice() is { } device && !device.MaintenanceModeReasons.Contains(MaintenanceModeReason.LowDiskSpace),
            "device info without LOW_DISK_SPACE once space is back");
        await scenario.Run.WaitUntilAsync(() => scenario.State.LogEntries.Any(e => e.Timestamp.ToDateTimeOffset() > recovered),
            "log lines from after the recovery delivered");
        Assert.True(scenario.IsRunning);
    }

    [Fact]
    public async Task A_config_that_arrives_while_the_disk_is_full_is_applied_and_saved_once_space_returns()
    {
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false, stateSizeBytes: StateSize);
        scenario.Run.Options = scenario.Run.Options with { Apps = scenario.Run.Options.Apps with { Enabled = false } };
        scenario.Start();
        var lastConfig = Path.Combine(scenario.StateDir, "lastconfig");
        await scenario.Run.WaitUntilAsync(() => File.Exists(lastConfig) && scenario.LatestDevice() is not null, "the first config saved");

        var filler = Path.Combine(scenario.StateDir, "filler");
        DiskFiller.Fill(filler);
        lock (scenario.State.ConfigItems)
        {
            scenario.State.ConfigItems.Add(new ConfigItem { Key = "timer.metric.interval", Value = "55" });
        }

        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice()?.ConfigItemStatus.ConfigItems.GetValueOrDefault("timer.metric.interval")?.Value == "55",
            "device info showing the new config applied");
        Assert.False(SavedItems(lastConfig).ContainsKey("timer.metric.interval"), "the full disk cannot have taken the new lastconfig");
        Assert.Contains(scenario.Run.Logs.Messages(LogLevel.Warning), m => m.StartsWith("Could not save the lastconfig", StringComparison.Ordinal));

        File.Delete(filler);
        await scenario.Run.WaitUntilAsync(() => SavedItems(lastConfig).GetValueOrDefault("timer.metric.interval") == "55", "the new config saved once space returned");
    }

    [Fact]
    public async Task When_the_state_disk_fails_with_IO_errors_the_agent_runs_on_from_memory_and_keeps_config_and_status_flowing()
    {
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false, stateSizeBytes: StateSize, stateOnExt4: true);
        scenario.Run.Options = scenario.Run.Options with { Apps = scenario.Run.Options.Apps with { Enabled = false } };
        scenario.Start();
        await scenario.Run.WaitUntilAsync(() => File.Exists(Path.Combine(scenario.StateDir, "lastconfig")) && scenario.LatestDevice() is { State: ZDeviceState.Online },
            "the device online with its config saved");

        scenario.FailStateDisk();
        var error = Assert.ThrowsAny<IOException>(() => File.ReadAllBytes(Path.Combine(scenario.StateDir, "lastconfig")));
        Assert.Equal(5, error.HResult); // EIO: the disk really is failing now
        var polls = scenario.State.ConfigRequests;
        lock (scenario.State.ConfigItems)
        {
            scenario.State.ConfigItems.Add(new ConfigItem { Key = "timer.metric.interval", Value = "55" });
        }

        // Every write of the agent (journal, outbox, lastconfig, accepted info) now fails: status goes from memory.
        await scenario.Run.WaitUntilAsync(() => scenario.LatestDevice()?.ConfigItemStatus.ConfigItems.GetValueOrDefault("timer.metric.interval")?.Value == "55",
            "device info showing the new config applied");
        await scenario.Run.WaitUntilAsync(() => scenario.State.ConfigRequests >= polls + 3, "the config loop going on with the disk failing");
        Assert.Contains(scenario.Run.Logs.Messages(LogLevel.Warning), m => m.StartsWith("Could not save the lastconfig", StringComparison.Ordinal));
        Assert.DoesNotContain(scenario.Run.Logs.Messages(LogLevel.Error), m => m.StartsWith("Subsystem", StringComparison.Ordinal));
        Assert.True(scenario.IsRunning);
        Assert.Equal(0, await scenario.StopAsync());
    }

    /// <summary>The config items of the signed config saved on disk (its signature was checked when it arrived).</summary>
    private static Dictionary<string, string> SavedItems(string path)
    {
        var container = Envelope.Parse(File.ReadAllBytes(path));
        var response = ConfigResponse.Parser.ParseFrom(Envelope.Payload(container).Span);
        return response.Config.ConfigItems.ToDictionary(i => i.Key, i => i.Value);
    }
}
