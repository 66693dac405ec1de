using Org.Lfedge.Eve.Info;
using Outpost.Agent.Configuration;
using Outpost.Agent.Hosting;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// The boot after an update: IMGB runs on probation (inprogress) through EVE's test window, which starts when the
/// controller is reached, and is committed at its end (or, with Outpost's manual commit, when the operator confirms).
/// The 30 s window passes on a clock the test jumps ahead.
/// </summary>
public sealed class BaseOsProbationTests(OsRegistryFixture registry) : IClassFixture<OsRegistryFixture>
{
    private static OsBuild V1 => OsRegistryFixture.V1;

    private static OsBuild V2 => OsRegistryFixture.V2;

    private static OsBuild V3 => OsRegistryFixture.V3;

    /// <summary>A device that installed 0.2.0 into IMGB and has just booted it (systemd-boot took its one try).</summary>
    private async Task<BaseOsScenario> BootedIntoUpdateAsync()
    {
        var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1, running: BaseOsScenario.V2, bootLabel: EvePartitions.ImgbName);
        s.Disk.Install(V2, running: EvePartitions.ImgaName);
        Assert.Equal(EvePartitions.ImgbName, s.Disk.FirmwareBoot());
        s.SeedState(BaseOsScenario.Record((EvePartitions.ImgaName, V1), (EvePartitions.ImgbName, V2)) with { Pending = BaseOsScenario.V2 });
        s.ShortestTestWindow();
        return s;
    }

    /// <summary>Waits for IMGB on probation with the test window running (the config with the 30 s window is in).</summary>
    private static Task WaitForTestingAsync(BaseOsScenario s) =>
        s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.Activated && sw.UserStatus == BaseOsStatus.Updating && sw.SubStatus == BaseOsSubStatus.UpdateTesting
            && sw.SubStatusStr.StartsWith("Testing", StringComparison.Ordinal) && sw.SubStatusProgress <= 30, "UPDATING/UPDATE_TESTING with the 30 s window running");

    [Fact]
    public async Task After_the_controller_is_reached_and_the_test_window_passes_IMGB_is_committed()
    {
        await using var s = await BootedIntoUpdateAsync();
        s.Want(BaseOsScenario.V2, registry.V2Image);

        s.Start();
        await WaitForTestingAsync(s);
        Assert.Equal(PartitionState.InProgress, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgaName));

        s.Clock.Jump(TimeSpan.FromSeconds(31));
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.UserStatus == BaseOsStatus.Updated && sw.ShortVersion == BaseOsScenario.V2, "UPDATED (committed)");
        await s.Faults.UnplugAsync();
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(PartitionState.Unused, s.Disk.State(EvePartitions.ImgaName));
        Assert.Equal(["outpost-imgb.conf"], s.Disk.EntryFiles());
        Assert.Equal((EvePartitions.ImgbName, EvePartitions.ImgbName), s.Disk.NextBoot());
        var state = s.ReadState()!;
        Assert.Null(state.Pending);
        Assert.Contains("committed", state.LastOutcome, StringComparison.Ordinal);
        Assert.True(s.Agent.IsRunning, "the agent rebooted instead of committing");
    }

    [Fact]
    public async Task With_manual_commit_IMGB_waits_in_UPDATE_NEED_TEST_CONFIRM_until_the_commit_counter_changes()
    {
        await using var s = await BootedIntoUpdateAsync();
        s.Want(BaseOsScenario.V2, registry.V2Image);
        s.SetConfigItem(ConfigItemSettings.ManualCommitKey, "true");
        s.SetConfigItem(ConfigItemSettings.CommitCounterKey, "4");

        s.Start();
        await WaitForTestingAsync(s);
        s.Clock.Jump(TimeSpan.FromSeconds(31));
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.SubStatus == BaseOsSubStatus.UpdateNeedTestConfirm && sw.UserStatus == BaseOsStatus.Updating,
            "UPDATE_NEED_TEST_CONFIRM");
        // Several passes later, still held.
        await s.Faults.WaitForPassesAsync(3);
        Assert.Equal(PartitionState.InProgress, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgaName));
        Assert.Equal(4u, s.ReadState()!.CommitCounterSeen);

        s.SetConfigItem(ConfigItemSettings.CommitCounterKey, "5");
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.UserStatus == BaseOsStatus.Updated, "UPDATED after the confirmation");
        await s.Faults.UnplugAsync();
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(PartitionState.Unused, s.Disk.State(EvePartitions.ImgaName));
        Assert.Equal(["outpost-imgb.conf"], s.Disk.EntryFiles());
    }

    [Fact]
    public async Task With_manual_commit_a_confirmation_given_during_the_test_window_commits_at_its_end()
    {
        await using var s = await BootedIntoUpdateAsync();
        s.Want(BaseOsScenario.V2, registry.V2Image);
        s.SetConfigItem(ConfigItemSettings.ManualCommitKey, "true");
        s.SetConfigItem(ConfigItemSettings.CommitCounterKey, "4");

        s.Start();
        await WaitForTestingAsync(s);
        // `outpost device commit` while the window still runs.
        s.SetConfigItem(ConfigItemSettings.CommitCounterKey, "5");
        await s.Run.WaitUntilAsync(() => s.Agent.LatestDevice()?.ConfigItemStatus?.ConfigItems.GetValueOrDefault(ConfigItemSettings.CommitCounterKey)?.Value == "5",
            "the device reporting commit counter 5");
        Assert.Equal(PartitionState.InProgress, s.Disk.State(EvePartitions.ImgbName));

        s.Clock.Jump(TimeSpan.FromSeconds(31));
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.UserStatus == BaseOsStatus.Updated, "UPDATED at the end of the window");
        await s.Faults.UnplugAsync();
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(["outpost-imgb.conf"], s.Disk.EntryFiles());
    }

    [Fact]
    public async Task A_new_version_asked_for_during_probation_is_installed_only_after_the_running_one_is_committed()
    {
        await using var s = await BootedIntoUpdateAsync();
        s.Faults.Expect(EvePartitions.ImgaName, V3.Rootfs);
        // The controller already wants 0.3.0 while 0.2.0 is on probation.
        s.Want(BaseOsScenario.V3, registry.V3Image);

        s.Start();
        await WaitForTestingAsync(s);
        await s.Run.WaitUntilAsync(() => s.LatestContent()?.State == ZSwState.Loaded, "0.3.0's content tree LOADED");
        await s.Faults.WaitForPassesAsync(3);
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgaName));
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgaName, V1), "IMGA was overwritten while 0.2.0 was on probation");
        Assert.True(V1.PayloadMatches(s.Disk.Payload(EvePartitions.ImgaName)));
        Assert.Equal(PartitionState.InProgress, s.Disk.State(EvePartitions.ImgbName));

        // Committed, 0.2.0 is the fallback-proof base; now 0.3.0 goes into IMGA, and the device reboots into it.
        s.Clock.Jump(TimeSpan.FromSeconds(31));
        Assert.Equal(AgentExitCodes.RebootRequested, await s.WaitForExitAsync());
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(PartitionState.Updating, s.Disk.State(EvePartitions.ImgaName));
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgaName, V3));
        Assert.Equal(["outpost-imga+1.conf", "outpost-imgb.conf"], s.Disk.EntryFiles());
        Assert.Empty(s.Faults.Violations);
        Assert.Equal(BootReason.Update, s.RecordedRebootReason());
    }
}
