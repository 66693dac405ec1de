using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;
using Outpost.Agent.Content;

namespace Outpost.Agent.Apps;

/// <summary>One volume generation a prepared workload runs on; the volume subsystem keeps it until no app uses it.</summary>
public sealed record VolumeUse(string Uuid, long GenerationCount);

/// <summary>What the app subsystem observed for one app instance; becomes ZInfoApp.</summary>
public sealed record AppStatus(
    string Uuid,
    string Version,
    string DisplayName,
    ZSwState State,
    ValueList<string> VolumeRefs,
    DateTimeOffset? BootTime = null,
    ObjectError? Error = null,
    ValueList<ObjectError>? Warnings = null) : IKeyed
{
    public string Key => Uuid;

    /// <summary>The volume generations the app's prepared workload runs on (empty when none is prepared).</summary>
    public ValueList<VolumeUse> VolumesInUse { get; init; } = ValueList<VolumeUse>.Empty;

    /// <summary>
    /// Changes whenever the workload is prepared anew (first deploy, purge, new root volume), which starts its console
    /// log over; null while no workload is prepared.
    /// </summary>
    public string? WorkloadGeneration { get; init; }

    /// <summary>How many times the restart policy started the app again since it was deployed (or purged).</summary>
    public int Restarts { get; init; }

    /// <summary>The exit code of the last time the app ended by itself; null if it never did or the code is unknown.</summary>
    public int? LastExitCode { get; init; }

    /// <summary>True while the app's process exists or is being started or stopped.</summary>
    public bool IsActive => State is ZSwState.Booting or ZSwState.Running or ZSwState.Halting or ZSwState.Restarting or ZSwState.Purging;

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

        foreach (var warning in Warnings ?? ValueList<ObjectError>.Empty)
        {
            info.AppErr.Add(warning.ToErrorInfo());
        }

        return info;
    }
}

/// <summary>
/// The app subsystem's view of the whole host, published after each pass: which volume generations any workload
/// (wanted or not yet removed) runs on, and how many workloads are running. <see cref="Complete"/> says the
/// subsystem has looked at everything on disk at least once, so that others may act on the absence of a use.
/// </summary>
public sealed record AppInventory(ValueList<VolumeUse> VolumesInUse, int ActiveWorkloads, bool Complete) : IKeyed
{
    public const string SingletonKey = "apps";

    public string Key => SingletonKey;
}
