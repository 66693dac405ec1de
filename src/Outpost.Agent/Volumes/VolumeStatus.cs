using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;
using Outpost.Agent.Content;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Volumes;

/// <summary>How the image a volume was made from wants to be run (the process fields of its OCI config).</summary>
public sealed record ImageRunConfig(ValueList<string> Entrypoint, ValueList<string> Cmd, ValueList<string> Env, string? WorkingDirectory, string? User);

/// <summary>
/// What the volume subsystem observed for one volume at one generation. Once <see cref="ZSwState.CreatedVolume"/>, a
/// filesystem volume has <see cref="RootfsPath"/>, the directory holding its files (what a container mounts), and
/// <see cref="Image"/>, how the image it came from wants to be run (if it came from one); a disk volume (a VM image
/// from a RAW, QCOW2 or ISO content tree) has <see cref="DiskPath"/> instead: the read-only base image, shared with
/// the content store, that a VM's overlay sits on, with its <see cref="DiskFormat"/> and
/// <see cref="DiskVirtualSizeBytes"/> (the size the guest sees). <see cref="SizeBytes"/> is the bytes it takes.
/// </summary>
public sealed record VolumeStatus(
    string Uuid,
    string DisplayName,
    long GenerationCount,
    ZSwState State,
    uint ProgressPercentage = 0,
    string? RootfsPath = null,
    ImageRunConfig? Image = null,
    long MaxSizeBytes = 0,
    long SizeBytes = 0,
    ObjectError? Error = null,
    string? DiskPath = null,
    VmDiskFormat? DiskFormat = null,
    long DiskVirtualSizeBytes = 0) : IKeyed
{
    public string Key => Uuid;

    /// <summary>The volume's EVE target, from its spec: a disk, or a kernel or initrd a VM boots directly.</summary>
    public Org.Lfedge.Eve.Config.Target Target { get; init; }

    public bool IsCreated => State == ZSwState.CreatedVolume && (RootfsPath is not null || DiskPath is not null);

    /// <summary>True for a created disk volume (a VM image), false for a filesystem one.</summary>
    public bool IsDisk => DiskPath is not null;

    public ZInfoVolume ToInfo()
    {
        var info = new ZInfoVolume
        {
            Uuid = Uuid,
            DisplayName = DisplayName,
            State = State,
            ProgressPercentage = ProgressPercentage,
            GenerationCount = GenerationCount,
            Resources = new VolumeResources { MaxSizeBytes = (ulong)Math.Max(0, MaxSizeBytes), CurSizeBytes = (ulong)Math.Max(0, SizeBytes) },
        };
        if (Error is not null)
        {
            info.VolumeErr = Error.ToErrorInfo();
        }

        return info;
    }
}
