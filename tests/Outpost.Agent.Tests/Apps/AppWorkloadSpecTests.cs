using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Tests.Apps;

/// <summary>How an app and its volumes become a workload: a container, a container in a VM, a VM, or a VM booted from a kernel volume.</summary>
public sealed class AppWorkloadSpecTests
{
    private static readonly string Writable = "/state/apps/x/writable";

    [Fact]
    public void A_kernel_and_an_initrd_volume_boot_the_vm_directly_with_extraargs_and_are_not_its_disks()
    {
        var (app, volumes) = Vm(("root", Target.TgtUnknown), ("kernel", Target.Kernel), ("initrd", Target.Initrd));
        app = app with { Vm = app.Vm with { KernelArgs = "console=ttyS0 root=/dev/vda" } };

        var vm = AppWorkloadSpec.Build(app, volumes["root"], Writable, volumes).Vm!;

        Assert.Equal(new QemuKernelBoot("/volumes/kernel.raw", "/volumes/initrd.raw", "console=ttyS0 root=/dev/vda"), vm.KernelBoot);
        Assert.Equal(["/volumes/root.raw"], vm.Disks.Select(d => d.Path));
    }

    [Fact]
    public void A_vm_without_a_kernel_volume_boots_its_disk_through_firmware()
    {
        var (app, volumes) = Vm(("root", Target.TgtUnknown), ("data", Target.Disk));
        var vm = AppWorkloadSpec.Build(app, volumes["root"], Writable, volumes).Vm!;
        Assert.Null(vm.KernelBoot);
        Assert.Equal(2, vm.Disks.Count);
    }

    [Theory]
    [InlineData(Target.Initrd)]
    [InlineData(Target.RamDisk)]
    public void An_initrd_without_a_kernel_is_refused(Target target)
    {
        var (app, volumes) = Vm(("root", Target.TgtUnknown), ("initrd", target));
        var e = Assert.Throws<WorkloadSpecException>(() => AppWorkloadSpec.Build(app, volumes["root"], Writable, volumes));
        Assert.Contains("an initrd needs a kernel", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_kernel_volumes_are_refused()
    {
        var (app, volumes) = Vm(("root", Target.TgtUnknown), ("k1", Target.Kernel), ("k2", Target.Kernel));
        Assert.Throws<WorkloadSpecException>(() => AppWorkloadSpec.Build(app, volumes["root"], Writable, volumes));
    }

    [Fact]
    public void Evess_kernel_and_ramdisk_paths_on_the_device_are_refused_so_a_controller_cannot_pick_host_files()
    {
        var (app, volumes) = Vm(("root", Target.TgtUnknown));
        app = app with { Vm = app.Vm with { HostKernelPath = "/etc/shadow" } };
        var e = Assert.Throws<WorkloadSpecException>(() => AppWorkloadSpec.Build(app, volumes["root"], Writable, volumes));
        Assert.Contains("/etc/shadow", e.Message, StringComparison.Ordinal);
        Assert.Contains("target is Kernel", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_oci_app_asking_for_vm_isolation_is_a_container_vm_with_its_image_and_extraargs()
    {
        var root = new VolumeStatus("root", "root", 0, ZSwState.CreatedVolume, RootfsPath: "/volumes/root/rootfs");
        var app = App(["root"]) with { Vm = AppVmConfig.Default with { IsolateContainer = true, KernelArgs = "loglevel=3" } };
        var spec = AppWorkloadSpec.Build(app, root, Writable, new Dictionary<string, VolumeStatus> { ["root"] = root });
        Assert.True(spec.Vm is { Container: true, KernelArgs: "loglevel=3", Disks.Count: 0 });
        Assert.Equal(["/volumes/root/rootfs"], spec.LowerDirectories);

        var plain = AppWorkloadSpec.Build(App(["root"]), root, Writable, new Dictionary<string, VolumeStatus> { ["root"] = root });
        Assert.Null(plain.Vm);
    }

    private static (AppSpec App, Dictionary<string, VolumeStatus> Volumes) Vm(params (string Name, Target Target)[] volumes)
    {
        var statuses = volumes.ToDictionary(v => v.Name, v => new VolumeStatus(v.Name, v.Name, 0, ZSwState.CreatedVolume,
            DiskPath: $"/volumes/{v.Name}.raw", DiskFormat: VmDiskFormat.Raw)
        { Target = v.Target });
        return (App(volumes.Select(v => v.Name).ToArray()), statuses);
    }

    private static AppSpec App(string[] volumes) => new(
        "7b3f0b9e-4a51-4b8a-9c3e-2f8d1a6c5e40", "1", "app", 262144, 1, true,
        volumes.Select(v => new AppVolumeRef(v, 0)).ToValueList(), AppUserData.Empty, 0, 0, false);
}
