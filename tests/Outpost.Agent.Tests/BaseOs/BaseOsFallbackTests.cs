using Org.Lfedge.Eve.Info;
using Outpost.Agent.Configuration;
using Outpost.Agent.Hosting;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// The ways back: an update that did not survive its test window (the device runs IMGA again and says so), the
/// controller's retry counter, EVE's force.fallback.counter, and a BaseOS config deleted while IMGB waits to boot.
/// </summary>
public sealed class BaseOsFallbackTests(OsRegistryFixture registry) : IClassFixture<OsRegistryFixture>
{
    private static OsBuild V1 => OsRegistryFixture.V1;

    private static OsBuild V2 => OsRegistryFixture.V2;

    [Fact]
    public async Task A_fallback_is_reported_FAILED_the_same_version_is_not_installed_again_until_the_retry_counter_moves()
    {
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1);
        // 0.2.0 was installed and booted (inprogress), then the device came back up on IMGA: its window failed.
        s.Disk.Install(V2, running: EvePartitions.ImgaName);
        Assert.Equal(EvePartitions.ImgbName, s.Disk.FirmwareBoot());
        s.Disk.ReconcileAfterBoot(EvePartitions.ImgbName, l => l == EvePartitions.ImgbName ? BaseOsScenario.V2 : BaseOsScenario.V1);
        Assert.Equal((EvePartitions.ImgaName, EvePartitions.ImgaName), s.Disk.NextBoot());
        s.SeedState(BaseOsScenario.Record((EvePartitions.ImgaName, V1), (EvePartitions.ImgbName, V2)) with { Pending = BaseOsScenario.V2 });
        var before = s.Disk.Sha256();
        s.Faults.Expect(EvePartitions.ImgbName, V2.Rootfs);
        s.RetryCounter = 1;
        s.Want(BaseOsScenario.V2, registry.V2Image);

        s.Start();
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.UserStatus == BaseOsStatus.Failed && sw.SwErr?.Description.Contains("fell back", StringComparison.Ordinal) == true,
            "FAILED saying the device fell back");
        // The image is there again, and passes go by: the failed version is not written again.
        await s.Run.WaitUntilAsync(() => s.LatestContent()?.State == ZSwState.Loaded, "0.2.0's content tree LOADED");
        await s.Faults.WaitForPassesAsync(3);
        await s.Faults.UnplugAsync();
        Assert.Equal(before, s.Disk.Sha256());
        Assert.Equal(PartitionState.InProgress, s.Disk.State(EvePartitions.ImgbName));
        Assert.True(s.Agent.IsRunning, "the agent rebooted into the version that failed");
        var failed = s.ReadState()!.Failed!;
        Assert.Equal((BaseOsScenario.V2, 1u), (failed.Version, failed.RetryCounter));

        // The controller bumps the retry counter: IMGB gets its one try again.
        s.Faults.Unplugged = false;
        s.RetryCounter = 2;
        Assert.Equal(AgentExitCodes.RebootRequested, await s.WaitForExitAsync());
        Assert.Equal(PartitionState.Updating, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(["outpost-imga.conf", "outpost-imgb+1.conf"], s.Disk.EntryFiles());
        Assert.Equal((EvePartitions.ImgbName, EvePartitions.ImgbName), s.Disk.NextBoot());
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgbName, V2));
        Assert.Equal(BootReason.Update, s.RecordedRebootReason());
        Assert.Empty(s.Faults.Violations);
    }

    [Fact]
    public async Task Deleting_the_BaseOS_config_while_IMGB_waits_to_boot_resets_IMGB_to_unused_and_removes_its_entry()
    {
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1);
        s.Disk.Install(V2, running: EvePartitions.ImgaName);
        s.SeedState(BaseOsScenario.Record((EvePartitions.ImgaName, V1), (EvePartitions.ImgbName, V2)) with { Pending = BaseOsScenario.V2 });
        s.Want(BaseOsScenario.V2, registry.V2Image);
        s.HoldReboots();

        s.Start();
        await s.Run.WaitUntilAsync(() => s.Power.Reasons.Count > 0, "the reboot into 0.2.0 asked for");
        Assert.Equal(PartitionState.Updating, s.Disk.State(EvePartitions.ImgbName));

        s.WantedVersion = null;
        s.Image = null;
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.UserStatus == BaseOsStatus.None, "nothing (unused)");
        await s.Faults.UnplugAsync();
        Assert.Equal(PartitionState.Unused, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgaName));
        Assert.Equal(["outpost-imga.conf"], s.Disk.EntryFiles());
        Assert.Equal((EvePartitions.ImgaName, EvePartitions.ImgaName), s.Disk.NextBoot());
        Assert.Null(s.ReadState()!.Pending);
    }

    [Fact]
    public async Task The_first_force_fallback_counter_is_only_recorded_a_change_makes_the_previous_version_in_IMGB_boot_next()
    {
        // Running 0.2.0 from IMGA, committed; IMGB (unused) still holds 0.1.0 with its kernel and initramfs.
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V2, running: BaseOsScenario.V2);
        s.Disk.Install(V1, running: EvePartitions.ImgaName);
        s.Disk.ReconcileAndCommit(EvePartitions.ImgaName, l => l == EvePartitions.ImgaName ? BaseOsScenario.V2 : BaseOsScenario.V1);
        Assert.Equal(PartitionState.Unused, s.Disk.State(EvePartitions.ImgbName));
        s.SeedState(BaseOsScenario.Record((EvePartitions.ImgaName, V2), (EvePartitions.ImgbName, V1)));
        var before = s.Disk.Sha256();
        s.Faults.Expect(EvePartitions.ImgbName, V1.Rootfs);
        // The controller's BaseOS names what runs, as it does after an update.
        s.Want(BaseOsScenario.V2, registry.V2Image);
        s.SetConfigItem(ConfigItemSettings.ForceFallbackCounterKey, "3");

        s.Start();
        await s.Run.WaitUntilAsync(() => s.ReadState()?.ForceFallbackSeen == 3, "force.fallback.counter 3 recorded");
        await s.Faults.WaitForPassesAsync(3);
        Assert.True(s.Agent.IsRunning, "the first force.fallback.counter the device saw made it fall back");
        await s.Faults.UnplugAsync();
        Assert.Equal(before, s.Disk.Sha256());
        s.Faults.Unplugged = false;

        s.SetConfigItem(ConfigItemSettings.ForceFallbackCounterKey, "4");
        Assert.Equal(AgentExitCodes.RebootRequested, await s.WaitForExitAsync());
        Assert.Equal(BootReason.Fallback, s.RecordedRebootReason());
        Assert.Equal(PartitionState.Updating, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgaName));
        Assert.Equal(["outpost-imga.conf", "outpost-imgb+1.conf"], s.Disk.EntryFiles());
        Assert.Equal((EvePartitions.ImgbName, EvePartitions.ImgbName), s.Disk.NextBoot());
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgbName, V1));
        Assert.Equal(BaseOsScenario.V1, s.ReadState()!.Pending);
        Assert.Empty(s.Faults.Violations);
    }
}
