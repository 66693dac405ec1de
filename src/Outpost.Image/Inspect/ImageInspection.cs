namespace Outpost.Image.Inspect;

/// <summary>What <c>outpost image inspect FILE</c> reports.</summary>
public sealed record ImageInspection(
    string Path,
    string Format,
    long SizeBytes,
    string Sha256,
    Guid? DiskGuid,
    IReadOnlyList<PartitionInspection> Partitions,
    FilesystemInspection? Filesystem);

/// <param name="AbState">EVE's name for the A/B attribute value (active, updating, inprogress, unused) on rootfs slots; null elsewhere.</param>
public sealed record PartitionInspection(
    int Number,
    string Name,
    Guid TypeGuid,
    string TypeName,
    Guid UniqueGuid,
    long OffsetBytes,
    long SizeBytes,
    ulong Attributes,
    string? AbState,
    FilesystemInspection? Filesystem,
    string Sha256);

/// <param name="Files">Paths on FAT volumes (small, worth listing); null for other filesystems.</param>
public sealed record FilesystemInspection(string Type, string? Label, long? BytesUsed, string? Compression, IReadOnlyList<string>? Files);
