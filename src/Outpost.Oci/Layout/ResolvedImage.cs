using Outpost.Oci.Content;

namespace Outpost.Oci.Layout;

/// <summary>A single-platform image found in a layout: its manifest, parsed config and layers (bottom first).</summary>
public sealed record ResolvedImage
{
    /// <summary>The name it was resolved from (an <c>index.json</c> ref name or a digest).</summary>
    public required string Name { get; init; }

    /// <summary>The descriptor of the platform-specific manifest.</summary>
    public required Descriptor ManifestDescriptor { get; init; }

    public required ImageManifest Manifest { get; init; }

    public required ImageConfig Config { get; init; }

    /// <summary>The layer descriptors, bottom layer first.</summary>
    public IReadOnlyList<Descriptor> Layers => Manifest.Layers;
}
