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
            "-accel", spec.Accelerator == QemuAccelerator.Kvm ? "kvm" : TcgAccel(spec.TcgTranslationCacheMiB),
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

        if (spec.KernelBoot is { } kernel)
        {
            args.AddRange(["-kernel", kernel.KernelPath]);
            if (kernel.InitrdPath is { } initrd)
            {
                args.AddRange(["-initrd", initrd]);
            }

            if (kernel.CommandLine is { } commandLine)
            {
                args.AddRange(["-append", commandLine]);
            }
        }

        var cdRoms = 0;
        foreach (var disk in spec.Disks)
        {
            var format = disk.Format == QemuDiskFormat.Qcow2 ? "qcow2" : "raw";
            if (disk.CdRom)
            {
                // A SCSI CD-ROM: firmware (SeaBIOS and OVMF) can boot from it, and it is read-only by nature.
                if (cdRoms++ == 0)
                {
                    args.AddRange(["-device", "virtio-scsi-pci,id=scsi0"]);
                }

                args.AddRange(["-drive", $"file={Option(disk.Path)},format={format},if=none,media=cdrom,readonly=on,id=cd{cdRoms}"]);
                args.AddRange(["-device", $"scsi-cd,drive=cd{cdRoms},bus=scsi0.0"]);
                continue;
            }

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

        if (spec.SerialSocketPath is { } serialSocket)
        {
            // The console socket for an operator, and the log for the app's log stream: QEMU logs every byte the
            // guest writes whether or not a client is connected.
            args.AddRange([
                "-chardev", $"socket,id=serial0,path={Option(serialSocket)},server=on,wait=off,logfile={Option(spec.SerialLogPath!)},logappend=on",
                "-serial", "chardev:serial0",
            ]);
        }
        else if (spec.SerialLogPath is { } serial)
        {
            // A chardev rather than -serial file:, which truncates: the log keeps every boot of the machine.
            args.AddRange(["-chardev", $"file,id=serial0,path={Option(serial)},append=on", "-serial", "chardev:serial0"]);
        }

        for (var i = 0; i < spec.HostSerialPorts.Count; i++)
        {
            args.AddRange(["-chardev", $"serial,id=hostserial{i},path={Option(spec.HostSerialPorts[i])}", "-serial", $"chardev:hostserial{i}"]);
        }

        if (spec.UsbDevices.Count > 0)
        {
            args.AddRange(["-device", "qemu-xhci,id=xhci0"]);
            foreach (var usb in spec.UsbDevices)
            {
                var match = usb.VendorId is not null
                    ? $"vendorid=0x{usb.VendorId},productid=0x{usb.ProductId}"
                    : $"hostbus={Number(usb.HostBus!.Value)},hostport={Option(usb.HostPort!)}";
                args.AddRange(["-device", $"usb-host,bus=xhci0.0,{match}"]);
            }
        }

        foreach (var pci in spec.PciDevices)
        {
            args.AddRange(["-device", $"vfio-pci,host={Option(pci)}"]);
        }

        for (var i = 0; i < spec.Shares.Count; i++)
        {
            var share = spec.Shares[i];
            // passthrough: the guest sees the host's owners and modes, as a container on runc does; QEMU runs as root.
            args.AddRange([
                "-fsdev", $"local,id=fs{i},path={Option(share.HostPath)},security_model=passthrough" + (share.ReadOnly ? ",readonly=on" : ""),
                "-device", $"virtio-9p-pci,fsdev=fs{i},mount_tag={share.Tag}",
            ]);
        }

        if (spec.ControlSocketPath is { } control)
        {
            args.AddRange([
                "-device", "virtio-serial-pci,id=vserial0",
                "-chardev", $"socket,id=control0,path={Option(control)},server=on,wait=off",
                "-device", $"virtserialport,bus=vserial0.0,chardev=control0,name={Option(spec.ControlPortName)}",
            ]);
        }

        if (spec.RunAsUser is { } user)
        {
            args.AddRange(["-runas", user]);
        }

        if (spec.Balloon)
        {
            args.AddRange(["-device", "virtio-balloon-pci"]);
        }

        if (spec.NoReboot)
        {
            args.Add("-no-reboot");
        }

        if (spec.VncSocketPath is { } vnc)
        {
            // A unix socket only: the device opens nothing on its network; the agent relays the socket to operators.
            args.AddRange(["-vnc", $"unix:{Option(vnc)}", "-device", "VGA"]);
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

        foreach (var (socket, role) in new[]
        {
            (spec.QmpSocketPath, "QMP"), (spec.SerialSocketPath, "serial console"), (spec.VncSocketPath, "VNC"), (spec.ControlSocketPath, "control port"),
        })
        {
            if (socket is not null && Encoding.UTF8.GetByteCount(socket) > MaxUnixSocketPathBytes)
            {
                throw new WorkloadSpecException(
                    $"The {role} socket path {socket} is longer than a unix socket path may be ({MaxUnixSocketPathBytes} bytes); use a folder with a shorter path.");
            }
        }

        if (spec.SerialSocketPath is not null && spec.SerialLogPath is null)
        {
            throw new WorkloadSpecException($"VM {spec.Name} serves its serial console on a socket but has no serial log; set SerialLogPath.");
        }

        foreach (var usb in spec.UsbDevices)
        {
            var byId = usb.VendorId is not null && usb.ProductId is not null && IsHex4(usb.VendorId) && IsHex4(usb.ProductId);
            var byPort = usb.HostBus is > 0 && usb.HostPort is { Length: > 0 } port && port.All(c => char.IsAsciiDigit(c) || c == '.');
            if (byId == byPort)
            {
                throw new WorkloadSpecException(
                    $"VM {spec.Name}: a USB device needs either a vendor and product id (4 hex digits each, e.g. 0403:6001) or a host bus and port (e.g. 1 and 2.1), not both.");
            }
        }

        foreach (var pci in spec.PciDevices)
        {
            if (!IsPciAddress(pci))
            {
                throw new WorkloadSpecException($"VM {spec.Name}: '{pci}' is not a PCI address; write it as DDDD:BB:SS.F, e.g. 0000:03:00.0.");
            }
        }

        if (spec.TcgTranslationCacheMiB is < 8)
        {
            throw new WorkloadSpecException($"VM {spec.Name}: a TCG translation cache of {spec.TcgTranslationCacheMiB} MiB is too small; give at least 8.");
        }

        foreach (var nic in spec.Nics)
        {
            if (nic.Backend == QemuNetBackend.Tap && string.IsNullOrEmpty(nic.TapInterface))
            {
                throw new WorkloadSpecException($"VM {spec.Name} network {nic.Id} uses a tap backend but names no tap interface.");
            }
        }

        if (spec.RunAsUser is { } runAs && (runAs.Length == 0 || !runAs.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')))
        {
            throw new WorkloadSpecException($"VM {spec.Name}: '{runAs}' is not a user name QEMU can run as.");
        }

        foreach (var share in spec.Shares)
        {
            if (share.Tag.Length is 0 or > 31 || !share.Tag.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                throw new WorkloadSpecException($"VM {spec.Name}: share tag '{share.Tag}' must be 1 to 31 letters, digits, '-' or '_'.");
            }
        }

        if (spec.Shares.Select(s => s.Tag).Distinct(StringComparer.Ordinal).Count() != spec.Shares.Count)
        {
            throw new WorkloadSpecException($"VM {spec.Name} shares two directories under one tag; give each its own.");
        }

        if (spec.Nics.Select(n => n.Id).Distinct(StringComparer.Ordinal).Count() != spec.Nics.Count)
        {
            throw new WorkloadSpecException($"VM {spec.Name} has two network cards with one id; give each its own.");
        }
    }

    private static string TcgAccel(int? translationCacheMiB) =>
        translationCacheMiB is { } size ? $"tcg,tb-size={Number(size)}" : "tcg";

    private static bool IsHex4(string value) => value.Length == 4 && value.All(char.IsAsciiHexDigit);

    private static bool IsPciAddress(string value) =>
        value.Length == 12 && value[4] == ':' && value[7] == ':' && value[10] == '.'
        && value[..4].All(char.IsAsciiHexDigit) && value[5..7].All(char.IsAsciiHexDigit) && value[8..10].All(char.IsAsciiHexDigit)
        && value[11] is >= '0' and <= '7';

    /// <summary>A value inside a QEMU option list, where a comma separates options and ",," is a literal comma.</summary>
    private static string Option(string value) => value.Replace(",", ",,", StringComparison.Ordinal);

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
