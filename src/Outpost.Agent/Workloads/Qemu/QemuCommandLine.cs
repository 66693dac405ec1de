using System.Globalization;
using System.Text;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>Turns a <see cref="QemuMachineSpec"/> into qemu-system-x86_64 arguments, refusing specs QEMU would fail on.</summary>
public static class QemuCommandLine
{
    public const string Executable = "qemu-system-x86_64";

    /// <summary>sun_path is 108 bytes including the terminating NUL; QEMU refuses longer socket paths.</summary>
    public const int MaxUnixSocketPathBytes = 107;

    /// <exception cref="WorkloadSpecException">The spec cannot start a machine as written.</exception>
    public static IReadOnlyList<string> Arguments(QemuMachineSpec spec)
    {
        Validate(spec);
        var args = new List<string>
        {
            "-name", Option(spec.Name),
            "-machine", Option(spec.Machine),
            "-accel", spec.Accelerator == QemuAccelerator.Kvm ? "kvm" : "tcg",
        };
        if ((spec.CpuModel ?? (spec.Accelerator == QemuAccelerator.Kvm ? "host" : null)) is { } cpu)
        {
            args.AddRange(["-cpu", Option(cpu)]);
        }

        args.AddRange(["-m", Number(spec.MemoryMiB), "-smp", Number(spec.Cpus)]);
        // Only the devices the spec names: no default NIC, VGA, floppy or CD-ROM, no host-wide config file.
        args.AddRange(["-nodefaults", "-no-user-config", "-display", "none"]);

        if (spec.Firmware is { } firmware)
        {
            args.AddRange(["-drive", $"if=pflash,format=raw,readonly=on,file={Option(firmware.CodePath)}"]);
            args.AddRange(["-drive", $"if=pflash,format=raw,file={Option(firmware.VarsPath)}"]);
        }

        foreach (var disk in spec.Disks)
        {
            var format = disk.Format == QemuDiskFormat.Qcow2 ? "qcow2" : "raw";
            args.AddRange(["-drive", $"file={Option(disk.Path)},format={format},if=virtio" + (disk.ReadOnly ? ",readonly=on" : "")]);
        }

        foreach (var nic in spec.Nics)
        {
            var netdev = nic.Backend == QemuNetBackend.Tap
                ? $"tap,id={Option(nic.Id)},ifname={Option(nic.TapInterface!)},script=no,downscript=no"
                : $"user,id={Option(nic.Id)}";
            args.AddRange(["-netdev", netdev]);
            args.AddRange(["-device", $"virtio-net-pci,netdev={Option(nic.Id)}" + (nic.MacAddress is { } mac ? $",mac={Option(mac)}" : "")]);
        }

        if (spec.SerialLogPath is { } serial)
        {
            // A chardev rather than -serial file:, which truncates: the log keeps every boot of the machine.
            args.AddRange(["-chardev", $"file,id=serial0,path={Option(serial)},append=on", "-serial", "chardev:serial0"]);
        }

        if (spec.QmpSocketPath is { } qmp)
        {
            args.AddRange(["-chardev", $"socket,id=qmp0,path={Option(qmp)},server=on,wait=off", "-mon", "chardev=qmp0,mode=control"]);
        }

        if (spec.PidFilePath is { } pidFile)
        {
            args.AddRange(["-pidfile", pidFile]);
        }

        if (spec.Watchdog)
        {
            args.AddRange(["-device", "i6300esb", "-action", "watchdog=reset"]);
        }

        if (spec.Daemonize)
        {
            args.Add("-daemonize");
        }

        return args;
    }

    private static void Validate(QemuMachineSpec spec)
    {
        if (spec.Name.Length == 0 || !spec.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            throw new WorkloadSpecException($"VM name '{spec.Name}' must be letters, digits, '.', '_' or '-'.");
        }

        if (spec.MemoryMiB < 64)
        {
            throw new WorkloadSpecException($"VM {spec.Name} has {spec.MemoryMiB} MiB of memory; give at least 64 MiB.");
        }

        if (spec.Cpus is < 1 or > 255)
        {
            throw new WorkloadSpecException($"VM {spec.Name} has {spec.Cpus} CPUs; give 1 to 255.");
        }

        if (spec.Daemonize && spec.PidFilePath is null)
        {
            throw new WorkloadSpecException($"VM {spec.Name} daemonizes but has no pid file, so it could never be found again; set PidFilePath.");
        }

        if (spec.QmpSocketPath is { } qmp && Encoding.UTF8.GetByteCount(qmp) > MaxUnixSocketPathBytes)
        {
            throw new WorkloadSpecException(
                $"The QMP socket path {qmp} is longer than a unix socket path may be ({MaxUnixSocketPathBytes} bytes); use a folder with a shorter path.");
        }

        foreach (var nic in spec.Nics)
        {
            if (nic.Backend == QemuNetBackend.Tap && string.IsNullOrEmpty(nic.TapInterface))
            {
                throw new WorkloadSpecException($"VM {spec.Name} network {nic.Id} uses a tap backend but names no tap interface.");
            }
        }

        if (spec.Nics.Select(n => n.Id).Distinct(StringComparer.Ordinal).Count() != spec.Nics.Count)
        {
            throw new WorkloadSpecException($"VM {spec.Name} has two network cards with one id; give each its own.");
        }
    }

    /// <summary>A value inside a QEMU option list, where a comma separates options and ",," is a literal comma.</summary>
    private static string Option(string value) => value.Replace(",", ",,", StringComparison.Ordinal);

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
