using System.Text.Json;
using System.Text.Json.Serialization;
using Outpost.Agent.Persistence;

namespace Outpost.Agent.Apps;

/// <summary>
/// What the app subsystem must remember about one app across restarts and reboots (STATE/apps/UUID/app.json, its
/// own file): which volume generation its workload was prepared on, which restart/purge counters it has acted on,
/// whether the controller halted it, and what its restart policy has done.
/// </summary>
internal sealed record AppRecord
{
    /// <summary>The root volume the workload was prepared on; saved before preparing so its generation is never collected under it.</summary>
    public VolumeUse? PreparedVolume { get; init; }

    public string? PreparedRootfs { get; init; }

    /// <summary>A new value each time the workload is prepared anew; its console log starts over then.</summary>
    public string? WorkloadGeneration { get; init; }

    public uint PurgeCounter { get; init; }

    /// <summary>The run token (restart counter, purge counter, activation epoch) the workload was last started for.</summary>
    public string? StartedToken { get; init; }

    /// <summary>Bumped when an app deactivated by the controller is activated again, so that it starts anew.</summary>
    public long ActivationEpoch { get; init; }

    public bool Halted { get; init; }

    /// <summary>Starts by the restart policy since the workload was prepared.</summary>
    public int Restarts { get; init; }

    public int? LastExitCode { get; init; }

    /// <summary>When the run that ended last had started: tells a new exit from one already counted.</summary>
    public DateTimeOffset? LastExitRunStartedAt { get; init; }

    public static AppRecord Load(string path) =>
        AtomicFile.TryRead(path) is { } bytes ? JsonSerializer.Deserialize(bytes, AppRecordJson.Default.AppRecord) ?? new AppRecord() : new AppRecord();

    public void Save(string path) => AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(this, AppRecordJson.Default.AppRecord));
}

[JsonSerializable(typeof(AppRecord))]
internal sealed partial class AppRecordJson : JsonSerializerContext;
