using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Tests.Workloads.Qemu;

public sealed class QemuCommandLineTests
{
    private static QemuMachineSpec Device(QemuAccelerator accelerator = QemuAccelerator.Tcg) => new()
    {
        Name = "dev1",
        Accelerator = accelerator,
        Firmware = new QemuUefiFirmware(QemuUefiFirmware.DebianCode, "/lab/devices/dev1/OVMF_VARS.fd"),
        Disks = [new QemuDisk("/lab/devices/dev1/disk.raw")],
        Nics = [new QemuNic("n0")],
        SerialLogPath = "/lab/devices/dev1/serial.log",
        QmpSocketPath = "/lab/devices/dev1/qmp.sock",
        PidFilePath = "/lab/devices/dev1/qemu.pid",
        Watchdog = true,
        Daemonize = true,
    };

    /// <summary>The value after each occurrence of <paramref name="option"/>.</summary>
    private static List<string> ValuesOf(IReadOnlyList<string> args, string option) =>
        args.Select((arg, i) => (arg, i)).Where(p => p.arg == option).Select(p => args[p.i + 1]).ToList();

    [Fact]
    public void A_lab_device_is_a_uefi_q35_machine_with_a_virtio_disk_user_network_serial_log_qmp_and_a_resetting_watchdog()
    {
        var args = QemuCommandLine.Arguments(Device());

        Assert.Equal(["tcg"], ValuesOf(args, "-accel"));
        Assert.Equal(["q35"], ValuesOf(args, "-machine"));
        Assert.Equal(["1024"], ValuesOf(args, "-m"));
        Assert.Equal(["2"], ValuesOf(args, "-smp"));
        Assert.Equal(["none"], ValuesOf(args, "-display"));
        Assert.Equal(
            [
                "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                "if=pflash,format=raw,file=/lab/devices/dev1/OVMF_VARS.fd",
                "file=/lab/devices/dev1/disk.raw,format=raw,if=virtio",
            ],
            ValuesOf(args, "-drive"));
        Assert.Equal(["user,id=n0"], ValuesOf(args, "-netdev"));
        Assert.Equal(["virtio-net-pci,netdev=n0", "i6300esb"], ValuesOf(args, "-device"));
        Assert.Equal(["watchdog=reset"], ValuesOf(args, "-action"));
        Assert.Equal(
            ["file,id=serial0,path=/lab/devices/dev1/serial.log,append=on", "socket,id=qmp0,path=/lab/devices/dev1/qmp.sock,server=on,wait=off"],
            ValuesOf(args, "-chardev"));
        Assert.Equal(["chardev:serial0"], ValuesOf(args, "-serial"));
        Assert.Equal(["chardev=qmp0,mode=control"], ValuesOf(args, "-mon"));
        Assert.Equal(["/lab/devices/dev1/qemu.pid"], ValuesOf(args, "-pidfile"));
        Assert.Contains("-daemonize", args);
        Assert.Contains("-nodefaults", args);
        Assert.DoesNotContain("-cpu", args);
    }

    [Fact]
    public void Shares_are_9p_devices_under_their_tags_and_the_control_port_is_a_named_virtio_serial_port_on_a_socket()
    {
        var args = QemuCommandLine.Arguments(Device() with
        {
            Shares = [new QemuShare("outpost-root", "/vms/a/root"), new QemuShare("ro", "/data,x", ReadOnly: true)],
            ControlSocketPath = "/vms/a/control.sock",
            NoReboot = true,
        });
        Assert.Equal(["local,id=fs0,path=/vms/a/root,security_model=passthrough", "local,id=fs1,path=/data,,x,security_model=passthrough,readonly=on"],
            ValuesOf(args, "-fsdev"));
        Assert.Contains("virtio-9p-pci,fsdev=fs0,mount_tag=outpost-root", ValuesOf(args, "-device"));
        Assert.Contains("socket,id=control0,path=/vms/a/control.sock,server=on,wait=off", ValuesOf(args, "-chardev"));
        Assert.Contains("virtserialport,bus=vserial0.0,chardev=control0,name=org.outpost.control", ValuesOf(args, "-device"));
        Assert.Contains("-no-reboot", args);
        Assert.DoesNotContain("-no-reboot", QemuCommandLine.Arguments(Device()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a,b")]
    [InlineData("tag with space")]
    [InlineData("a-tag-that-is-longer-than-31-bytes")]
    public void A_share_tag_qemu_or_the_guest_cannot_take_is_refused(string tag)
    {
        var e = Assert.Throws<WorkloadSpecException>(() => QemuCommandLine.Arguments(Device() with { Shares = [new QemuShare(tag, "/x")] }));
        Assert.Contains("share tag", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_shares_under_one_tag_are_refused()
    {
        var e = Assert.Throws<WorkloadSpecException>(() => QemuCommandLine.Arguments(Device() with { Shares = [new QemuShare("t", "/x"), new QemuShare("t", "/y")] }));
        Assert.Contains("under one tag", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kvm_passes_the_host_cpu_through_unless_a_model_is_given()
    {
        Assert.Equal(["host"], ValuesOf(QemuCommandLine.Arguments(Device(QemuAccelerator.Kvm)), "-cpu"));
        Assert.Equal(["kvm"], ValuesOf(QemuCommandLine.Arguments(Device(QemuAccelerator.Kvm)), "-accel"));
        Assert.Equal(["max"], ValuesOf(QemuCommandLine.Arguments(Device() with { CpuModel = "max" }), "-cpu"));
    }

    [Fact]
    public void A_comma_in_a_path_is_doubled_so_qemu_does_not_read_it_as_the_next_option()
    {
        var args = QemuCommandLine.Arguments(Device() with { Disks = [new QemuDisk("/lab/a,b/disk.qcow2", QemuDiskFormat.Qcow2, ReadOnly: true)] });
        Assert.Contains("file=/lab/a,,b/disk.qcow2,format=qcow2,if=virtio,readonly=on", ValuesOf(args, "-drive"));
    }

    [Fact]
    public void A_tap_card_names_its_interface_and_mac_and_runs_no_scripts()
    {
        var args = QemuCommandLine.Arguments(Device() with { Nics = [new QemuNic("app0", QemuNetBackend.Tap, "52:54:00:12:34:56", "tap-app0")] });
        Assert.Equal(["tap,id=app0,ifname=tap-app0,script=no,downscript=no"], ValuesOf(args, "-netdev"));
        Assert.Contains("virtio-net-pci,netdev=app0,mac=52:54:00:12:34:56", ValuesOf(args, "-device"));
    }

    [Fact]
    public void Without_optional_parts_no_firmware_network_serial_qmp_or_watchdog_is_added()
    {
        var args = QemuCommandLine.Arguments(new QemuMachineSpec { Name = "bare", Accelerator = QemuAccelerator.Tcg });
        foreach (var option in new[] { "-drive", "-netdev", "-chardev", "-serial", "-mon", "-pidfile", "-action", "-daemonize" })
        {
            Assert.DoesNotContain(option, args);
        }
    }

    [Theory]
    [InlineData("bad name", "must be letters, digits")]
    [InlineData("dev1", "at least 64 MiB", 32)]
    [InlineData("dev1", "give 1 to 255", 1024, 0)]
    public void A_spec_qemu_would_fail_on_is_refused_with_what_to_change(string name, string expected, int memory = 1024, int cpus = 2)
    {
        var error = Assert.Throws<WorkloadSpecException>(() => QemuCommandLine.Arguments(Device() with { Name = name, MemoryMiB = memory, Cpus = cpus }));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_qmp_socket_path_longer_than_a_unix_socket_allows_is_refused()
    {
        var error = Assert.Throws<WorkloadSpecException>(() => QemuCommandLine.Arguments(Device() with { QmpSocketPath = "/" + new string('d', 120) + "/qmp.sock" }));
        Assert.Contains("use a folder with a shorter path", error.Message);
    }

    [Fact]
    public void Daemonizing_without_a_pid_file_is_refused()
    {
        var error = Assert.Throws<WorkloadSpecException>(() => QemuCommandLine.Arguments(Device() with { PidFilePath = null }));
        Assert.Contains("set PidFilePath", error.Message);
    }
}
