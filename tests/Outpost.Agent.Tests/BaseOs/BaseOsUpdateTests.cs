using Org.Lfedge.Eve.Info;
using Outpost.Agent.Hosting;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// An update from the controller's config to a rebooting device: download through the content subsystem, verify,
/// install into IMGB, reboot request; and the same install when the disk fails a write or the agent is stopped halfway.
/// </summary>
public sealed class BaseOsUpdateTests(OsRegistryFixture registry) : IClassFixture<OsRegistryFixture>
{
    private static OsBuild V1 => OsRegistryFixture.V1;

    private static OsBuild V2 => OsRegistryFixture.V2;

    [Fact]
    public async Task The_asked_version_is_downloaded_verified_installed_into_IMGB_and_a_reboot_for_UPDATE_is_requested()
    {
        // The rootfs trickles out of the registry, so the download is seen in progress.
        await using var proxy = await RegistryProxy.StartAsync(registry.Host);
        proxy.TrickleBlob = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(V2.Rootfs));
        await using var s = await BaseOsScenario.StartAsync(proxy.Host, registry.Key, V1);
        s.Faults.Expect(EvePartitions.ImgbName, V2.Rootfs);
        s.Want(BaseOsScenario.V2, registry.V2Image);
        // The reboot is recorded and then takes its time: the node subsystem does not wait for the last device info
        // to be queued before it reboots (see the report), so with an instant reboot the controller may miss it.
        s.HoldReboots();

        s.Start();
        await s.Run.WaitUntilAsync(() => s.Power.Reasons.Count > 0, "a reboot requested");
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.UserStatus == BaseOsStatus.Updating && sw.SubStatus == BaseOsSubStatus.UpdateRebooting, "UPDATING/UPDATE_REBOOTING");
        Assert.Equal(0, await s.StopAsync());
        Assert.Equal(["Rebooting into 0.2.0 on IMGB"], s.Power.Reasons);

        // The disk: IMGB holds 0.2.0 and has its one try (GPT updating, counted entry), IMGA is as it was.
        Assert.Equal(PartitionState.Updating, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(0x13, PartitionState.Updating.EveValue);
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgaName));
        Assert.Equal(["outpost-imga.conf", "outpost-imgb+1.conf"], s.Disk.EntryFiles());
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgbName, V2), "IMGB does not hold 0.2.0's rootfs");
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgaName, V1), "IMGA's rootfs changed");
        Assert.True(V2.PayloadMatches(s.Disk.Payload(EvePartitions.ImgbName)), "IMGB's kernel and initramfs on the ESP are not 0.2.0's");
        Assert.Equal((EvePartitions.ImgbName, EvePartitions.ImgbName), s.Disk.NextBoot());
        Assert.Empty(s.Faults.Violations);

        var state = s.ReadState()!;
        Assert.Equal(BaseOsScenario.V2, state.Slots[EvePartitions.ImgbName].Version);
        Assert.Equal(BaseOsScenario.V1, state.Slots[EvePartitions.ImgaName].Version);
        Assert.Equal(BaseOsScenario.V2, state.Pending);
        Assert.Equal(BootReason.Update, s.RecordedRebootReason());

        // What the controller saw of IMGB: downloading, then rebooting into the update.
        var imgb = s.DeviceInfos().Select(d => d.SwList.FirstOrDefault(e => e.PartitionLabel == EvePartitions.ImgbName)).Where(e => e is not null).ToList();
        var downloading = imgb.FindIndex(e => e!.UserStatus == BaseOsStatus.Downloading && e.ShortVersion == BaseOsScenario.V2);
        var rebooting = imgb.FindIndex(e => e!.UserStatus == BaseOsStatus.Updating && e.SubStatus == BaseOsSubStatus.UpdateRebooting);
        Assert.True(downloading >= 0, "no device info showed IMGB DOWNLOADING: " + string.Join(" | ", imgb));
        Assert.True(rebooting > downloading, "no device info after the download showed IMGB UPDATING/UPDATE_REBOOTING: " + string.Join(" | ", imgb));
        Assert.Equal(BaseOsScenario.V2, imgb[rebooting]!.ShortVersion);
        Assert.Null(imgb[rebooting]!.SwErr);
        var imga = s.DeviceInfos().Last().SwList.First();
        Assert.Equal((EvePartitions.ImgaName, true, BaseOsScenario.V1), (imga.PartitionLabel, imga.Activated, imga.ShortVersion));
    }

    [Fact]
    public async Task A_write_error_on_the_slot_is_reported_leaves_IMGA_booting_and_the_next_pass_on_a_healthy_disk_completes_the_install()
    {
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1);
        s.Faults.Expect(EvePartitions.ImgbName, V2.Rootfs);
        // The second 1 MiB of the rootfs fails: the first is on the disk, so IMGB is half written.
        s.Faults.FailSlotWrite = 2;
        s.Want(BaseOsScenario.V2, registry.V2Image);

        s.Start();
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.SwErr?.Description.Contains("Injected write error", StringComparison.Ordinal) == true && sw.UserStatus == BaseOsStatus.Failed,
            "FAILED with the write error");
        await s.Faults.UnplugAsync();
        Assert.True(s.Faults.InjectedFailures >= 1);
        Assert.Equal(PartitionState.Unused, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(PartitionState.Active, s.Disk.State(EvePartitions.ImgaName));
        Assert.Equal(["outpost-imga.conf"], s.Disk.EntryFiles());
        Assert.Equal((EvePartitions.ImgaName, EvePartitions.ImgaName), s.Disk.NextBoot());
        Assert.False(s.Disk.SlotHolds(EvePartitions.ImgbName, V2));
        Assert.True(s.Agent.IsRunning, "the agent rebooted after a failed install");

        // The disk is healthy again: the next pass installs.
        s.Faults.FailSlotWrite = null;
        s.Faults.Unplugged = false;
        Assert.Equal(AgentExitCodes.RebootRequested, await s.WaitForExitAsync());
        Assert.Equal(PartitionState.Updating, s.Disk.State(EvePartitions.ImgbName));
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgbName, V2));
        Assert.Equal(["outpost-imga.conf", "outpost-imgb+1.conf"], s.Disk.EntryFiles());
        Assert.Empty(s.Faults.Violations);
    }

    [Fact]
    public async Task An_agent_stopped_while_the_rootfs_is_written_leaves_IMGB_unbootable_and_the_restarted_agent_finishes_the_install()
    {
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1);
        // The state file says IMGB holds an older version, as after an earlier update and its commit.
        s.SeedState(BaseOsScenario.Record((EvePartitions.ImgaName, V1), (EvePartitions.ImgbName, OsBuild.Make("0.0.9", 1024, 9))));
        s.Faults.Expect(EvePartitions.ImgbName, V2.Rootfs);
        s.Faults.SlotWriteDelay = TimeSpan.FromMilliseconds(400);
        s.Want(BaseOsScenario.V2, registry.V2Image);

        s.Start();
        await s.Faults.SlotWriteStarted.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, await s.StopAsync());
        Assert.True(s.Faults.SlotWrites < 4, $"the whole rootfs was written ({s.Faults.SlotWrites} writes) before the agent stopped");
        Assert.Equal(PartitionState.Unused, s.Disk.State(EvePartitions.ImgbName));
        Assert.Equal(["outpost-imga.conf"], s.Disk.EntryFiles());
        Assert.Equal((EvePartitions.ImgaName, EvePartitions.ImgaName), s.Disk.NextBoot());
        // Half overwritten, IMGB no longer holds 0.0.9: a forced fallback must not find it there.
        Assert.False(s.ReadState()!.Slots.ContainsKey(EvePartitions.ImgbName), "the state file still says the half-written IMGB holds its old version");

        // Started again in the same boot (the disk at full speed): it writes the slot again and asks for the reboot.
        s.Faults.SlotWriteDelay = TimeSpan.Zero;
        s.Start();
        Assert.Equal(AgentExitCodes.RebootRequested, await s.WaitForExitAsync());
        Assert.Equal(PartitionState.Updating, s.Disk.State(EvePartitions.ImgbName));
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgbName, V2));
        Assert.True(V2.PayloadMatches(s.Disk.Payload(EvePartitions.ImgbName)));
        Assert.Equal(["outpost-imga.conf", "outpost-imgb+1.conf"], s.Disk.EntryFiles());
        Assert.Empty(s.Faults.Violations);
        Assert.Equal(BaseOsScenario.V2, s.ReadState()!.Slots[EvePartitions.ImgbName].Version);
    }
}
