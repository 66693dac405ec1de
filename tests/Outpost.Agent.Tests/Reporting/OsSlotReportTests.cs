using Org.Lfedge.Eve.Info;
using Outpost.Agent.Configuration;
using Outpost.Agent.Reporting;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.Reporting;

/// <summary>The device info of a host booted from an Outpost disk: a fake sysfs tree and real GPT disk images.</summary>
public sealed class OsSlotReportTests : IDisposable
{
    private readonly FakeOutpostHost _host = new();

    public void Dispose() => _host.Dispose();

    private ZInfoDevice Collect(FakeOutpostHost? host = null)
    {
        host ??= _host;
        var collector = new DeviceInfoCollector(HostFacts.Read(host.Roots), host.StateDirectory, "0.9.0", new ManualTimeProvider(), host.Roots);
        return collector.Collect("dev-1", DesiredState.Initial.Settings, null, null).Dinfo;
    }

    private static string Describe(ZInfoDevSW s) =>
        $"{s.PartitionLabel} {s.PartitionDevice} {s.PartitionState} activated={s.Activated} '{s.ShortVersion}' {s.Status} {s.UserStatus} {s.SubStatus}";

    [Fact]
    public void Booted_slot_comes_first_with_the_release_version_and_the_other_slot_follows_with_its_gpt_state()
    {
        _host.AddOutpostDisk("vda", PartitionState.Active, PartitionState.Unused);

        var device = Collect();

        Assert.Equal(
            ["IMGA /dev/vda2 active activated=True '1.4.0' Installed Updated NoneSubstatus",
             "IMGB /dev/vda3 unused activated=False '' Initial None NoneSubstatus"],
            device.SwList.Select(Describe));
        Assert.Equal("outpost-agent 0.9.0 on Outpost 1.4.0, Linux kernel 6.1.0-outpost", device.SwList[0].LongVersion);
        Assert.Equal("", device.SwList[1].LongVersion);
    }

    [Fact]
    public void A_slot_under_test_after_an_update_reports_testing_and_its_commit_shows_at_the_next_collection()
    {
        using var host = new FakeOutpostHost(bootLabel: "IMGB");
        host.AddOutpostDisk("vda", PartitionState.Active, PartitionState.InProgress);
        var collector = new DeviceInfoCollector(HostFacts.Read(host.Roots), host.StateDirectory, "0.9.0", new ManualTimeProvider(), host.Roots);

        var testing = collector.Collect("dev-1", DesiredState.Initial.Settings, null, null).Dinfo;
        using (var disk = File.Open(host.DiskPath("vda"), FileMode.Open))
        {
            // What the commit after a successful test writes: the new slot active, the old one unused.
            GptDisk.UpdateAttributes(disk, EvePartitions.ImgbNumber, PartitionState.Active.Encode(0));
            GptDisk.UpdateAttributes(disk, EvePartitions.ImgaNumber, PartitionState.Unused.Encode(0));
        }

        var committed = collector.Collect("dev-1", DesiredState.Initial.Settings, null, null).Dinfo;

        Assert.Equal(
            ["IMGB /dev/vda3 inprogress activated=True '1.4.0' Installed Updating UpdateTesting",
             "IMGA /dev/vda2 active activated=False '' Initial None NoneSubstatus"],
            testing.SwList.Select(Describe));
        Assert.Equal(
            ["IMGB /dev/vda3 active activated=True '1.4.0' Installed Updated NoneSubstatus",
             "IMGA /dev/vda2 unused activated=False '' Initial None NoneSubstatus"],
            committed.SwList.Select(Describe));
    }

    [Fact]
    public void With_two_outpost_disks_the_slots_of_the_one_mounted_as_root_are_reported()
    {
        _host.AddOutpostDisk("vda", PartitionState.Active, PartitionState.Unused);
        _host.AddOutpostDisk("vdb", PartitionState.Active, PartitionState.Updating);
        _host.MountRoot("/dev/vdb2");

        var device = Collect();

        Assert.Equal(["IMGA /dev/vdb2 active", "IMGB /dev/vdb3 updating"], device.SwList.Select(s => $"{s.PartitionLabel} {s.PartitionDevice} {s.PartitionState}"));
    }

    [Fact]
    public void A_boot_disk_without_a_readable_gpt_still_reports_the_booted_slot_and_its_version()
    {
        _host.AddOutpostDisk("vda", PartitionState.Active, PartitionState.Unused);
        // Zeros over the primary table: what the agent sees after something overwrote the head of its disk.
        using (var disk = File.Open(_host.DiskPath("vda"), FileMode.Open))
        {
            disk.Write(new byte[GptLayout.FirstUsableLba * GptLayout.SectorSize]);
        }

        var software = Assert.Single(Collect().SwList);

        Assert.Equal("IMGA /dev/vda2  activated=True '1.4.0' Installed None NoneSubstatus", Describe(software));
    }

    [Fact]
    public void A_boot_partition_missing_from_sysfs_still_reports_the_booted_slot()
    {
        var software = Assert.Single(Collect().SwList);

        Assert.Equal("IMGA   activated=True '1.4.0' Installed None NoneSubstatus", Describe(software));
    }

    [Fact]
    public void A_host_without_outpost_release_keeps_the_os_release_name_and_the_agent_version()
    {
        using var host = new FakeOutpostHost(release: "");
        host.AddOutpostDisk("vda", PartitionState.Active, PartitionState.Unused);

        var facts = HostFacts.Read(host.Roots);
        var device = Collect(host);

        Assert.Equal("BusyBox userland", facts.OperatingSystem);
        Assert.Null(facts.Release);
        Assert.Equal("0.9.0", device.SwList[0].ShortVersion);
        Assert.Equal("outpost-agent 0.9.0 on BusyBox userland, Linux kernel 6.1.0-outpost", device.SwList[0].LongVersion);
    }

    [Fact]
    public void Outpost_release_is_read_in_the_format_the_image_builder_writes()
    {
        var release = OutpostRelease.Parse("VERSION=1.2.3\nARCH=amd64\nHV=kvm\nPLATFORM=generic\n");

        Assert.Equal(new OutpostRelease("1.2.3", "amd64", "kvm", "generic"), release);
        Assert.Equal("Outpost 1.2.3", release!.OperatingSystem);
        Assert.Null(OutpostRelease.Parse("ARCH=amd64\n"));
    }

    [Theory]
    [InlineData("active", true, BaseOsStatus.Updated, BaseOsSubStatus.NoneSubstatus)]
    [InlineData("active", false, BaseOsStatus.Fallback, BaseOsSubStatus.NoneSubstatus)]
    [InlineData("updating", false, BaseOsStatus.Updating, BaseOsSubStatus.UpdateRebooting)]
    [InlineData("inprogress", true, BaseOsStatus.Updating, BaseOsSubStatus.UpdateTesting)]
    [InlineData("inprogress", false, BaseOsStatus.Failed, BaseOsSubStatus.NoneSubstatus)]
    [InlineData("unused", false, BaseOsStatus.None, BaseOsSubStatus.NoneSubstatus)]
    public void An_installed_slot_gets_the_user_status_eve_derives_from_its_state(string state, bool activated, BaseOsStatus user, BaseOsSubStatus sub)
    {
        var entry = new ZInfoDevSW { Status = ZSwState.Installed, PartitionLabel = "IMGA", PartitionState = state, Activated = activated, ShortVersion = "1.0" };

        Outpost.Agent.Reporting.Slots.SoftwareList.ApplyUserStatus(entry);

        Assert.Equal((user, sub), (entry.UserStatus, entry.SubStatus));
    }
}
