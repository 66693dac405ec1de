using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Content;

namespace Outpost.Agent.Apps;

/// <summary>What the app reconciler observed for one app instance; becomes ZInfoApp.</summary>
public sealed record AppStatus(
    string Uuid,
    string Version,
    string DisplayName,
    ZSwState State,
    IReadOnlyList<string> VolumeRefs,
    DateTimeOffset? BootTime = null,
    int? Pid = null,
    ObjectError? Error = null,
    IReadOnlyList<ObjectError>? Warnings = null)
{
    public ZInfoApp ToInfo()
    {
        var info = new ZInfoApp { AppID = Uuid, AppVersion = Version, AppName = DisplayName, State = State };
        info.VolumeRefs.Add(VolumeRefs);
        if (BootTime is { } boot)
        {
            info.BootTime = Timestamp.FromDateTimeOffset(boot);
        }

        if (Error is not null)
        {
            info.AppErr.Add(Error.ToErrorInfo());
        }

        foreach (var warning in Warnings ?? [])
        {
            info.AppErr.Add(warning.ToErrorInfo());
        }

        return info;
    }
}
