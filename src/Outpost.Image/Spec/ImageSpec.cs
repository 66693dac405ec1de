using System.Text.Json.Nodes;

namespace Outpost.Image.Spec;

/// <summary>Where something was written in the YAML, so later stages can report errors at the right line.</summary>
public readonly record struct SpecLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>A linuxkit-format image description (see linuxkit docs/yaml.md).</summary>
public sealed record ImageSpec(
    KernelSpec? Kernel,
    IReadOnlyList<ImageRef> Init,
    IReadOnlyList<ContainerSpec> Onboot,
    IReadOnlyList<ContainerSpec> Onshutdown,
    IReadOnlyList<ContainerSpec> Services,
    IReadOnlyList<FileSpec> Files,
    IReadOnlyList<VolumeSpec> Volumes,
    string SourceText)
{
    /// <summary>The Outpost section: when present the image is an Outpost OS (its PID 1 and agent are the device binary).</summary>
    public OutpostSpec? Outpost { get; init; }
}

/// <summary>
/// <c>outpost: {version: V}</c>: put the device binary (PID 1 + agent) into the image. <paramref name="Version"/> is
/// checked against the binary the build uses, so a spec pinned to one release cannot silently get another.
/// </summary>
public sealed record OutpostSpec(string? Version, SpecLocation Location);

/// <summary>An image reference as written, plus where it was written.</summary>
public sealed record ImageRef(string Reference, SpecLocation Location);

public sealed record KernelSpec(ImageRef Image, string Cmdline, string Binary, string? Tar, string? Ucode);

/// <summary>
/// One onboot/onshutdown/service entry. Simple fields are typed; OCI structures that are passed through
/// to config.json unchanged (mounts, devices, resources, runtime...) are kept as JSON.
/// Null means "not given in the YAML" so image-label defaults can apply.
/// </summary>
public sealed record ContainerSpec
{
    public required string Name { get; init; }
    public required ImageRef Image { get; init; }
    public SpecLocation Location { get; init; }
    public IReadOnlyList<string>? Command { get; init; }
    public IReadOnlyList<string>? Env { get; init; }
    public string? Cwd { get; init; }
    public string? Uid { get; init; }
    public string? Gid { get; init; }
    public IReadOnlyList<string>? AdditionalGids { get; init; }
    public bool? NoNewPrivileges { get; init; }
    public IReadOnlyList<string>? Capabilities { get; init; }
    public IReadOnlyList<string>? CapabilitiesAdd { get; init; }
    public IReadOnlyList<string>? Ambient { get; init; }
    public IReadOnlyList<string>? Rlimits { get; init; }
    public int? OomScoreAdj { get; init; }
    public bool? Readonly { get; init; }
    public JsonArray? Mounts { get; init; }
    public IReadOnlyList<string>? Binds { get; init; }
    public IReadOnlyList<string>? BindsAdd { get; init; }
    public IReadOnlyList<string>? Tmpfs { get; init; }
    public IReadOnlyList<string>? MaskedPaths { get; init; }
    public IReadOnlyList<string>? ReadonlyPaths { get; init; }
    public string? RootfsPropagation { get; init; }
    public JsonArray? Devices { get; init; }
    public string? Net { get; init; }
    public string? Pid { get; init; }
    public string? Ipc { get; init; }
    public string? Uts { get; init; }
    public string? Userns { get; init; }
    public JsonArray? UidMappings { get; init; }
    public JsonArray? GidMappings { get; init; }
    public string? Hostname { get; init; }
    public string? CgroupsPath { get; init; }
    public JsonObject? Resources { get; init; }
    public JsonObject? Sysctl { get; init; }
    public JsonObject? Annotations { get; init; }
    public JsonObject? Runtime { get; init; }
}

public sealed record FileSpec(
    string Path,
    bool Directory,
    string? Symlink,
    string? Contents,
    string? Source,
    bool Optional,
    string? Metadata,
    int Mode,
    string? Uid,
    string? Gid,
    SpecLocation Location);

public sealed record VolumeSpec(string Name, ImageRef? Image, bool Readonly, string Format, SpecLocation Location);
