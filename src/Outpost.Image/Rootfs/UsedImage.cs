namespace Outpost.Image.Rootfs;

/// <summary>An OCI image that went into the rootfs, with where it was used (for the SBOM and the build summary).</summary>
public sealed record UsedImage(string Reference, string ManifestDigest, string Location);
