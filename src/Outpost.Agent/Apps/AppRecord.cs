using System.Text.Json;
using Outpost.Agent.Persistence;

namespace Outpost.Agent.Apps;

/// <summary>
/// What the agent must remember about one app across restarts (STATE/apps/UUID/app.json): which volume directory
/// its workload was prepared on, which restart/purge counters it has acted on, whether it was halted on purpose,
/// and how far its console log has been shipped.
/// </summary>
internal sealed record AppRecord
{
    public string? PreparedRootfs { get; init; }

    public uint PurgeCounter { get; init; }

    /// <summary>The run token (restart counter, purge counter, activation epoch) the workload was last started for.</summary>
    public string? StartedToken { get; init; }

    /// <summary>Bumped when an app deactivated by the controller is activated again, so that it starts anew.</summary>
    public long ActivationEpoch { get; init; }

    public bool Halted { get; init; }

    public long ConsoleOffset { get; init; }

    public static AppRecord Load(string path) =>
        AtomicFile.TryRead(path) is { } bytes ? JsonSerializer.Deserialize<AppRecord>(bytes) ?? new AppRecord() : new AppRecord();

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(this));
    }
}
