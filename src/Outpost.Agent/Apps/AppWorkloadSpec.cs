using System.Text;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;
using Target = Org.Lfedge.Eve.Config.Target;

namespace Outpost.Agent.Apps;

/// <summary>Turns an app and the status of its root volume (files and image run config) into what the runtime driver needs.</summary>
internal static class AppWorkloadSpec
{
    /// <summary>
    /// The workload for <paramref name="app"/>: a VM when its root volume is a disk image; a container in a VM when the
    /// app asks for VM isolation; else a container on runc.
    /// </summary>
    /// <param name="volumes">Every volume's status; a VM gets each of its volumes as a disk, in the app's order.</param>
    /// <param name="io">The host hardware the VM is given (see <see cref="IoAssignment"/>); ignored for a container.</param>
    public static WorkloadSpec Build(AppSpec app, VolumeStatus rootVolume, string writableDirectory, IReadOnlyDictionary<string, VolumeStatus> volumes, AssignedIo? io = null)
    {
        var spec = Container(app, rootVolume, writableDirectory);
        if (rootVolume.IsDisk)
        {
            return spec with { LowerDirectories = [], Vm = Vm(app, volumes, io ?? AssignedIo.None) };
        }

        return app.Vm.IsolateContainer
            ? spec with
            {
                Vm = new VmWorkloadSpec([])
                {
                    Container = true,
                    CpuSet = app.Vm.CpuSet.Length > 0 ? app.Vm.CpuSet : null,
                    KernelArgs = app.Vm.KernelArgs.Length > 0 ? app.Vm.KernelArgs : null,
                },
            }
            : spec;
    }

    /// <summary>The volumes a VM app still waits for (all of them must exist before it can be prepared).</summary>
    public static bool VmVolumesReady(AppSpec app, IReadOnlyDictionary<string, VolumeStatus> volumes) =>
        app.Volumes.All(v => volumes.GetValueOrDefault(v.Uuid) is { IsCreated: true });

    private static VmWorkloadSpec Vm(AppSpec app, IReadOnlyDictionary<string, VolumeStatus> volumes, AssignedIo io)
    {
        if (app.Vm.HostKernelPath.Length > 0)
        {
            throw new WorkloadSpecException(
                $"VM {app.DisplayName} names files on the device to boot ({app.Vm.HostKernelPath}); Outpost boots only what the controller sends: "
                + "give the kernel and initrd as volumes whose target is Kernel and Initrd.");
        }

        var all = app.Volumes.Select(v => volumes[v.Uuid]).ToList();
        var kernel = all.Where(v => v.Target == Target.Kernel).ToList();
        var initrd = all.Where(v => v.Target is Target.Initrd or Target.RamDisk).ToList();
        if (kernel.Count > 1 || initrd.Count > 1 || (initrd.Count == 1 && kernel.Count == 0) || kernel.Concat(initrd).Any(v => !v.IsDisk))
        {
            throw new WorkloadSpecException(
                $"VM {app.DisplayName} boots directly from at most one Kernel volume and one Initrd volume, each a downloaded image file, and an initrd needs a kernel.");
        }

        // EVE's direct kernel boot: the kernel and initrd volumes are files for QEMU, not disks for the guest.
        var boot = kernel.Count == 1
            ? new QemuKernelBoot(kernel[0].DiskPath!, initrd.FirstOrDefault()?.DiskPath, app.Vm.KernelArgs.Length > 0 ? app.Vm.KernelArgs : null)
            : null;
        var disks = all.Where(v => v.Target is not (Target.Kernel or Target.Initrd or Target.RamDisk)).Select(v => v.IsDisk
            ? new VmDisk(v.DiskPath, v.DiskFormat ?? VmDiskFormat.Raw, v.MaxSizeBytes)
            // A blank volume is a directory for a container; a VM gets a blank disk of its size (1 GiB when unsized).
            : new VmDisk(null, VmDiskFormat.Qcow2, v.MaxSizeBytes > 0 ? v.MaxSizeBytes : 1L << 30)).ToList();
        NoCloudSeedContent? seed = null;
        if (app.Vm.CloudInit)
        {
            // The config validator and AppUserData already refused userData that is not base64.
            var userData = app.Vm.UserData.Length > 0 ? Convert.FromBase64String(app.Vm.UserData.Trim()) : [];
            seed = new NoCloudSeedContent(app.Uuid, Hostname(app.DisplayName, app.Uuid), userData, null);
        }

        return new VmWorkloadSpec(disks)
        {
            BootMode = app.Vm.Uefi ? VmBootMode.Uefi : VmBootMode.Bios,
            KernelBoot = boot,
            CloudInit = seed,
            Vnc = app.Vm.EnableVnc,
            CpuSet = app.Vm.CpuSet.Length > 0 ? app.Vm.CpuSet : null,
            HostSerialPorts = io.SerialPorts,
            UsbDevices = io.UsbDevices,
            PciDevices = io.PciDevices,
        };
    }

    private static WorkloadSpec Container(AppSpec app, VolumeStatus rootVolume, string writableDirectory)
    {
        var run = rootVolume.Image;
        var process = new WorkloadProcess(new ImageProcessConfig(
            run?.Entrypoint ?? ValueList<string>.Empty, run?.Cmd ?? ValueList<string>.Empty, run?.Env ?? ValueList<string>.Empty,
            run?.WorkingDirectory, run?.User))
        {
            Env = app.UserData.Environment,
            // EVE_ECO_CMD replaces the whole command line, entrypoint included, as EVE does for containers.
            EntrypointOverride = app.UserData.Command,
        };
        return new WorkloadSpec(app.Uuid, app.DisplayName, rootVolume.RootfsPath is { } rootfs ? [rootfs] : [], writableDirectory, process)
        {
            Limits = new WorkloadLimits(
                app.MemoryKiB > 0 ? (long)app.MemoryKiB * 1024 : null,
                app.Vcpus > 0 ? app.Vcpus : null),
            Hostname = Hostname(app.DisplayName, app.Uuid),
        };
    }

    /// <summary>An RFC 1123 label from the display name: lower-case letters, digits and '-', at most 63 characters.</summary>
    public static string Hostname(string displayName, string uuid)
    {
        var label = new StringBuilder();
        foreach (var c in displayName.ToLowerInvariant())
        {
            label.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        }

        var text = label.ToString().Trim('-');
        if (text.Length > 63)
        {
            text = text[..63].TrimEnd('-');
        }

        return text.Length > 0 ? text : "app-" + uuid[..Math.Min(8, uuid.Length)];
    }
}
