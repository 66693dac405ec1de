using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;

namespace Outpost.Agent.Content;

/// <summary>
/// What the content store observed for one content tree. <see cref="ImageName"/> names the image in the store once
/// it is <see cref="ZSwState.Loaded"/>; the volume reconciler reads it from there.
/// </summary>
public sealed record ContentStatus(
    string Uuid,
    string DisplayName,
    long GenerationCount,
    ZSwState State,
    uint ProgressPercentage = 0,
    string? Sha256 = null,
    long SizeBytes = 0,
    string? ImageName = null,
    ObjectError? Error = null) : IKeyed
{
    public string Key => Uuid;

    public bool IsLoaded => State == ZSwState.Loaded && ImageName is not null;

    public ZInfoContentTree ToInfo()
    {
        var info = new ZInfoContentTree
        {
            Uuid = Uuid,
            DisplayName = DisplayName,
            State = State,
            ProgressPercentage = ProgressPercentage,
            GenerationCount = GenerationCount,
            Resources = new ContentResources { CurSizeBytes = (ulong)SizeBytes },
        };
        if (Sha256 is not null)
        {
            info.Sha256 = Sha256;
            info.ComponentShaList.Add(Sha256);
        }

        if (Error is not null)
        {
            info.Err = Error.ToErrorInfo();
        }

        return info;
    }
}
