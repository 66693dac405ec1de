using Org.Lfedge.Eve.Info;
using Outpost.Agent.Content;

namespace Outpost.Agent.Volumes;

/// <summary>
/// What the volume store observed for one volume at one generation. Once <see cref="ZSwState.CreatedVolume"/>,
/// <see cref="RootfsPath"/> holds the files and <see cref="ImageConfigPath"/> the image config they came from (if any).
/// </summary>
public sealed record VolumeStatus(
    string Uuid,
    string DisplayName,
    long GenerationCount,
    ZSwState State,
    uint ProgressPercentage = 0,
    string? RootfsPath = null,
    string? ImageConfigPath = null,
    long MaxSizeBytes = 0,
    long SizeBytes = 0,
    ObjectError? Error = null)
{
    public bool IsCreated => State == ZSwState.CreatedVolume && RootfsPath is not null;

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
