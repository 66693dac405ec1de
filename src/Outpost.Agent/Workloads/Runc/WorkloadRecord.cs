using System.Text.Json;
using System.Text.Json.Serialization;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>
/// What the driver remembers about a workload between calls and across agent restarts:
/// enough to rebuild the rootfs after a reboot and to delete everything it created.
/// </summary>
internal sealed record WorkloadRecord
{
    public required string Id { get; init; }

    public required string DisplayName { get; init; }

    public required IReadOnlyList<string> LowerDirectories { get; init; }

    public required string WritableDirectory { get; init; }

    /// <summary>The directory runc uses as root: the overlay mount point or the copied tree.</summary>
    public required string RootfsPath { get; init; }

    public required bool RootfsIsOverlay { get; init; }

    public IReadOnlyList<string> Warnings { get; init; } = [];

    public DateTimeOffset? StartedAt { get; init; }

    public int? ShimPid { get; init; }

    public static async Task<WorkloadRecord?> LoadAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        await using var stream = File.OpenRead(path);
        return await JsonSerializer.DeserializeAsync(stream, WorkloadRecordJson.Default.WorkloadRecord, cancellationToken);
    }

    /// <summary>Write-then-rename so a crash never leaves a half-written record.</summary>
    public async Task SaveAsync(string path, CancellationToken cancellationToken)
    {
        var temporary = path + ".tmp";
        await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await JsonSerializer.SerializeAsync(stream, this, WorkloadRecordJson.Default.WorkloadRecord, cancellationToken);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(WorkloadRecord))]
internal sealed partial class WorkloadRecordJson : JsonSerializerContext;
