using Outpost.Oci.Content;
using Outpost.Oci.References;

namespace Outpost.Oci.Registry;

/// <summary>A manifest or index exactly as the registry served it, with its verified digest.</summary>
public sealed record ManifestResponse(byte[] Content, string MediaType, OciDigest Digest)
{
    public bool IsIndex => MediaTypes.IsIndex(MediaType);

    /// <summary>A descriptor of this document.</summary>
    public Descriptor ToDescriptor() => new() { MediaType = MediaType, Digest = Digest, Size = Content.Length };
}

/// <summary>A registry image resolved to one platform: the manifest and, when one was followed, the index above it.</summary>
public sealed record RemoteImage(ImageReference Reference, ManifestResponse Manifest, ImageManifest ParsedManifest, ManifestResponse? Index);
