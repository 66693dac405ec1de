using Outpost.Agent.Node;

namespace Outpost.Agent.Workloads.Qemu;

/// <param name="StateRoot">The agent's state directory; each VM lives in its "vms/ID" subdirectory.</param>
/// <param name="Accelerator">KVM or TCG, chosen once per host (<see cref="KvmSupport.Choose"/>) and reported in device info.</param>
public sealed record QemuDriverOptions(string StateRoot, QemuAccelChoice Accelerator)
{
    /// <summary>qemu-system-x86_64: a path, or a name looked up on PATH.</summary>
    public string QemuPath { get; init; } = QemuCommandLine.Executable;

    public string QemuImgPath { get; init; } = QemuImg.DefaultPath;

    /// <summary>console.log (the serial console) is rotated, one old file kept, once it passes this size.</summary>
    public long ConsoleLogMaxBytes { get; init; } = 1024 * 1024;

    /// <summary>How long StartAsync waits for QEMU to answer on QMP with the machine running.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Memory QEMU itself needs beyond guest RAM (device emulation, the TCG translation cache, buffers): added to the
    /// cgroup limit so that the limit catches a runaway QEMU without killing a guest that merely uses all its RAM.
    /// </summary>
    public long OverheadBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>The TCG translation cache (MiB) under TCG; QEMU's 1 GiB default would dominate a small VM's footprint.</summary>
    public int TcgTranslationCacheMiB { get; init; } = 64;

    /// <summary>
    /// The unprivileged user QEMU drops to once a VM is set up; null keeps it root. The default is "nobody" when the
    /// host has it. Container VMs stay root: their 9p root must create files with the container's own owners.
    /// </summary>
    public string? RunAsUser { get; init; } = HostHasUser("nobody") ? "nobody" : null;

    /// <summary>The host's memory; a VM asking for more is refused before anything is created.</summary>
    public long HostMemoryBytes { get; init; } = ReadHostMemoryBytes();

    /// <summary>
    /// The folder with the kernel and initrd a container VM boots (`outpost image container-vm-kit` builds it; an
    /// Outpost OS image carries it here by default).
    /// </summary>
    public string ContainerVmKitDirectory { get; init; } = Outpost.Api.ContainerVm.ContainerVmContract.DefaultKitDirectory;

    public string OvmfCodePath { get; init; } = QemuUefiFirmware.DebianCode;

    public string OvmfVarsTemplatePath { get; init; } = QemuUefiFirmware.DebianVarsTemplate;

    /// <summary>The host's current boot id; a VM started under another one was lost when the host restarted.</summary>
    public string BootId { get; init; } = HostBoot.ReadBootId(HostBoot.DefaultBootIdPath);

    private static bool HostHasUser(string name) =>
        File.Exists("/etc/passwd") && File.ReadLines("/etc/passwd").Any(line => line.StartsWith(name + ":", StringComparison.Ordinal));

    private static long ReadHostMemoryBytes()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal)
                && long.TryParse(line["MemTotal:".Length..].Trim().Split(' ')[0], out var kib))
            {
                return kib * 1024;
            }
        }

        return long.MaxValue;
    }
}
