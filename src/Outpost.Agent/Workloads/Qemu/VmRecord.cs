using System.Text.Json;
using System.Text.Json.Serialization;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>
/// What the QEMU driver remembers about one VM (vms/ID/vm.json): the full QEMU command line decided at prepare time,
/// so a start after an agent restart or a reboot runs the same machine, and what it must clean up.
/// </summary>
internal sealed record VmRecord
{
    public required string Id { get; init; }

    public required string DisplayName { get; init; }

    public required string WritableDirectory { get; init; }

    /// <summary>QEMU's arguments (without the executable).</summary>
    public required IReadOnlyList<string> Arguments { get; init; }

    public required long? MemoryLimitBytes { get; init; }

    public double? Cpus { get; init; }

    public string? CpuSet { get; init; }

    /// <summary>A container VM: the image directories its shared root is an overlay of (mounted again after a host reboot), else null.</summary>
    public IReadOnlyList<string>? ContainerLowerDirectories { get; init; }

    public IReadOnlyList<string> CgroupDirectories { get; init; } = [];

    public IReadOnlyList<string> Warnings { get; init; } = [];

    public DateTimeOffset? StartedAt { get; init; }

    public int? ShimPid { get; init; }

    public int? QemuPid { get; init; }

    public string? BootId { get; init; }

    public static VmRecord? Load(string path) =>
        Persistence.AtomicFile.TryRead(path) is { } bytes ? JsonSerializer.Deserialize(bytes, VmRecordJson.Default.VmRecord) : null;

    public void Save(string path) => Persistence.AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(this, VmRecordJson.Default.VmRecord));
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(VmRecord))]
internal sealed partial class VmRecordJson : JsonSerializerContext;
