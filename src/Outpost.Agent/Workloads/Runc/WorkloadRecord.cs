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

    /// <summary>The container's init process as runc reported it once running.</summary>
    public int? ContainerPid { get; init; }

    /// <summary>The host boot the workload was last started in.</summary>
    public string? BootId { get; init; }

    public static async Task<WorkloadRecord?> LoadAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        await using var stream = File.OpenRead(path);
        return await JsonSerializer.DeserializeAsync(stream, WorkloadRecordJson.Default.WorkloadRecord, cancellationToken);
    }

    /// <summary>Written atomically (write, fsync, rename) so a crash never leaves a half-written record.</summary>
    public Task SaveAsync(string path, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Persistence.AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(this, WorkloadRecordJson.Default.WorkloadRecord));
        return Task.CompletedTask;
    }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(WorkloadRecord))]
internal sealed partial class WorkloadRecordJson : JsonSerializerContext;
