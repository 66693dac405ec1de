using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Workloads;

/// <summary>How a VM's firmware starts it (EVE VmBootMode).</summary>
public enum VmBootMode
{
    /// <summary>Legacy BIOS (SeaBIOS), EVE's LEGACY.</summary>
    Bios,

    /// <summary>UEFI (OVMF) with a per-VM variable store.</summary>
    Uefi,
}

/// <summary>One disk of a VM in boot order.</summary>
/// <param name="Path">The read-only base image (a volume's disk); null for a blank disk of <paramref name="MinimumSizeBytes"/>.</param>
/// <param name="MinimumSizeBytes">The disk the guest sees is at least this big (the volume's maxsizebytes); 0 keeps the image's size.</param>
/// <param name="Writable">
/// True: the guest writes to a qcow2 overlay in the app's writable directory and the base is never touched, so a
/// purge starts again from the download and any number of apps share one base. False: the base is attached read-only.
/// ISO images are always read-only CD-ROMs.
/// </param>
public sealed record VmDisk(string? Path, VmDiskFormat Format, long MinimumSizeBytes = 0, bool Writable = true);

/// <summary>What a VM app needs beyond the common <see cref="WorkloadSpec"/> (memory and vCPUs come from its limits).</summary>
public sealed record VmWorkloadSpec(IReadOnlyList<VmDisk> Disks)
{
    public VmBootMode BootMode { get; init; } = VmBootMode.Bios;

    /// <summary>
    /// The VM runs the spec's container (its image directories and process) instead of booting disks: EVE's VM
    /// isolation for an OCI app (virtualizationMode HVM or FML). The driver boots its container VM kit and shares the
    /// container's root over 9p; <see cref="Disks"/> must then be empty.
    /// </summary>
    public bool Container { get; init; }

    /// <summary>A container VM's extra kernel command line (EVE's extraargs), after the kit's own.</summary>
    public string? KernelArgs { get; init; }

    /// <summary>Direct kernel boot (EVE's kernel, ramdisk and extraargs); null boots the first disk through firmware.</summary>
    public QemuKernelBoot? KernelBoot { get; init; }

    /// <summary>A NoCloud seed disk for cloud-init; null: none (EVE's MetaDataNone).</summary>
    public NoCloudSeedContent? CloudInit { get; init; }

    /// <summary>A VNC display on a unix socket in the VM's directory (EVE enable_vnc).</summary>
    public bool Vnc { get; init; }

    /// <summary>Host CPUs the VM may run on, as a Linux CPU list ("0-1,3"; EVE's cpus); null for any.</summary>
    public string? CpuSet { get; init; }

    /// <summary>Host serial devices passed to the guest.</summary>
    public IReadOnlyList<string> HostSerialPorts { get; init; } = [];

    public IReadOnlyList<QemuUsbDevice> UsbDevices { get; init; } = [];

    /// <summary>PCI addresses (DDDD:BB:SS.F) passed through with VFIO.</summary>
    public IReadOnlyList<string> PciDevices { get; init; } = [];
}
