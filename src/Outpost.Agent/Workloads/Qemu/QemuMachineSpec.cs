namespace Outpost.Agent.Workloads.Qemu;

/// <summary>How QEMU executes guest code: KVM (hardware virtualization) or TCG (emulation, slow but always there).</summary>
public enum QemuAccelerator
{
    Tcg,
    Kvm,
}

/// <summary>
/// One QEMU virtual machine as data: what <see cref="QemuCommandLine.Arguments"/> turns into a command line. Shared by
/// everything that starts QEMU (<c>outpost lab</c> for whole devices, the agent's VM apps), so machines look alike and
/// the accelerator is chosen one way (<see cref="KvmSupport"/>).
/// </summary>
public sealed record QemuMachineSpec
{
    /// <summary>Shown by QEMU in its process title and QMP; letters, digits, '.', '_' and '-'.</summary>
    public required string Name { get; init; }

    public required QemuAccelerator Accelerator { get; init; }

    /// <summary>Guest RAM in MiB.</summary>
    public int MemoryMiB { get; init; } = 1024;

    public int Cpus { get; init; } = 2;

    /// <summary>QEMU machine type; q35 is what EVE runs VMs on.</summary>
    public string Machine { get; init; } = "q35";

    /// <summary>CPU model; null: <c>host</c> under KVM, QEMU's default under TCG.</summary>
    public string? CpuModel { get; init; }

    /// <summary>UEFI firmware; null boots with QEMU's BIOS.</summary>
    public QemuUefiFirmware? Firmware { get; init; }

    /// <summary>Disks in boot order, each a virtio block device.</summary>
    public IReadOnlyList<QemuDisk> Disks { get; init; } = [];

    /// <summary>Network cards, each virtio-net; none means the guest has no network.</summary>
    public IReadOnlyList<QemuNic> Nics { get; init; } = [];

    /// <summary>File that receives the first serial port's output (appended across boots); null: no serial port.</summary>
    public string? SerialLogPath { get; init; }

    /// <summary>
    /// Unix socket the first serial port is served on (one client at a time: the console), with every byte also
    /// appended to <see cref="SerialLogPath"/>, which is then required. Null: the serial port goes to the log file only.
    /// </summary>
    public string? SerialSocketPath { get; init; }

    /// <summary>Boots this kernel directly instead of the disks' bootloader; null: firmware boots the disks.</summary>
    public QemuKernelBoot? KernelBoot { get; init; }

    /// <summary>A VNC server on this unix socket (never on a TCP port) with a standard VGA card; null: no display.</summary>
    public string? VncSocketPath { get; init; }

    /// <summary>TCG's translation cache in MiB; null leaves QEMU's default (1 GiB on 64-bit hosts, mostly untouched).</summary>
    public int? TcgTranslationCacheMiB { get; init; }

    /// <summary>Host character devices (e.g. /dev/ttyUSB0, a pty) given to the guest as its second, third... serial port.</summary>
    public IReadOnlyList<string> HostSerialPorts { get; init; } = [];

    /// <summary>Host USB devices passed through on an xHCI controller.</summary>
    public IReadOnlyList<QemuUsbDevice> UsbDevices { get; init; } = [];

    /// <summary>Host PCI devices (addresses like 0000:03:00.0) passed through with VFIO.</summary>
    public IReadOnlyList<string> PciDevices { get; init; } = [];

    /// <summary>Host directories shared with the guest over 9p (virtio-9p), each under its mount tag.</summary>
    public IReadOnlyList<QemuShare> Shares { get; init; } = [];

    /// <summary>
    /// Unix socket of a virtio-serial port named <see cref="ControlPortName"/> (the host writes, the guest reads); null:
    /// none. Lets the host ask a guest's init for something QMP cannot (a container VM's "stop").
    /// </summary>
    public string? ControlSocketPath { get; init; }

    public string ControlPortName { get; init; } = "org.outpost.control";

    /// <summary>
    /// The user QEMU becomes once the machine is set up (every file and socket opened, -runas): a guest that breaks out
    /// of the emulator lands in an account that owns nothing. Null: QEMU keeps running as the agent's user.
    /// </summary>
    public string? RunAsUser { get; init; }

    /// <summary>A virtio balloon, through which QMP reports (and could change) the guest's current RAM.</summary>
    public bool Balloon { get; init; }

    /// <summary>A guest reboot (or a kernel panic with panic=-1) ends QEMU instead of restarting the machine.</summary>
    public bool NoReboot { get; init; }

    /// <summary>Unix socket QEMU serves QMP on (see <see cref="QmpClient"/>); null: no QMP.</summary>
    public string? QmpSocketPath { get; init; }

    /// <summary>File QEMU writes its pid to once it runs.</summary>
    public string? PidFilePath { get; init; }

    /// <summary>An i6300esb watchdog that resets the machine when the guest stops petting it, as a hardware watchdog does.</summary>
    public bool Watchdog { get; init; }

    /// <summary>QEMU detaches (forks, its first process exits once the machine is set up); needs a pid file to be found again.</summary>
    public bool Daemonize { get; init; }
}

/// <summary>OVMF as two pflash drives: the code read-only, the variable store a per-machine writable copy.</summary>
public sealed record QemuUefiFirmware(string CodePath, string VarsPath)
{
    /// <summary>Debian's OVMF (package ovmf), 4 MiB variant.</summary>
    public const string DebianCode = "/usr/share/OVMF/OVMF_CODE_4M.fd";

    /// <summary>The template to copy for each machine's variable store.</summary>
    public const string DebianVarsTemplate = "/usr/share/OVMF/OVMF_VARS_4M.fd";
}

public enum QemuDiskFormat
{
    Raw,
    Qcow2,
}

/// <param name="CdRom">Attach as a read-only CD-ROM (SCSI, bootable) instead of a virtio disk.</param>
public sealed record QemuDisk(string Path, QemuDiskFormat Format = QemuDiskFormat.Raw, bool ReadOnly = false, bool CdRom = false);

/// <summary>Direct kernel boot: QEMU loads the kernel (and initrd) itself and passes the command line.</summary>
public sealed record QemuKernelBoot(string KernelPath, string? InitrdPath = null, string? CommandLine = null);

/// <summary>A host directory the guest mounts with <c>mount -t 9p -o trans=virtio TAG DIR</c>.</summary>
/// <param name="Tag">The mount tag: letters, digits, '-' and '_', at most 31 bytes.</param>
public sealed record QemuShare(string Tag, string HostPath, bool ReadOnly = false);

/// <summary>A host USB device, matched by vendor and product id (hex, e.g. "0403") or by host bus and port path.</summary>
public sealed record QemuUsbDevice(string? VendorId = null, string? ProductId = null, int? HostBus = null, string? HostPort = null);

/// <summary>How a network card reaches the outside.</summary>
public enum QemuNetBackend
{
    /// <summary>QEMU's user-mode network (slirp): NAT, no privileges; the host's loopback is 10.0.2.2 to the guest.</summary>
    User,

    /// <summary>An existing tap interface (<see cref="QemuNic.TapInterface"/>), e.g. on a bridge.</summary>
    Tap,
}

/// <param name="Id">Netdev id, unique within the machine.</param>
/// <param name="MacAddress">null lets QEMU pick one.</param>
public sealed record QemuNic(string Id, QemuNetBackend Backend = QemuNetBackend.User, string? MacAddress = null, string? TapInterface = null);
