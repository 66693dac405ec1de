using Outpost.Oci.Content;

namespace Outpost.Image.Sources;

/// <summary>
/// Where the builder gets images from. The seam lets tests compose images they built themselves and lets
/// the CLI plug in a registry; the builder never cares which.
/// </summary>
public interface IImageSource
{
    /// <exception cref="MissingImageException">The reference cannot be found.</exception>
    Task<SourceImage> GetAsync(string reference, string baseDirectory, CancellationToken cancellationToken);
}

/// <summary>One resolved single-platform image: its manifest digest (what the SBOM records), config and layers (bottom first).</summary>
public sealed record SourceImage(string Reference, string ManifestDigest, ImageConfig Config, IReadOnlyList<SourceLayer> Layers);

/// <summary>One layer blob, opened on demand (compressed or not).</summary>
public sealed record SourceLayer(string Digest, string MediaType, long Size, Func<CancellationToken, Task<Stream>> Open)
{
    public Task<Stream> OpenAsync(CancellationToken cancellationToken) => Open(cancellationToken);
}
