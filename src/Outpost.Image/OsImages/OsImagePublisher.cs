using Outpost.Api.OsImages;
using Outpost.Oci.Content;
using Outpost.Oci.References;
using Outpost.Oci.Registry;

namespace Outpost.Image.OsImages;

/// <summary>The OCI artifact an OS image folder becomes: its manifest and the files behind each blob.</summary>
/// <param name="Blobs">The config and the layers, each with the file (or bytes) it comes from, config first.</param>
public sealed record OsImageArtifactContent(string Version, byte[] Manifest, OciDigest Digest, IReadOnlyList<OsImageBlob> Blobs);

/// <summary>One blob of the artifact: from a file of the folder, or from bytes (the config, the signature).</summary>
public sealed record OsImageBlob(Descriptor Descriptor, string? Path, byte[]? Content)
{
    public Stream Open() => Path is { } path
        ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true)
        : new MemoryStream(Content!, writable: false);
}

/// <summary>
/// Turns a signed OS image folder into the artifact <see cref="OsImageArtifact"/> describes — an OCI image manifest
/// whose config is an ordinary image config (amd64, linux, label <see cref="OsImageArtifact.VersionLabel"/>) and whose
/// layers are rootfs.img, the kernel, the initramfs and the signature, in that order — and pushes it to a registry as
/// <c>outpost/os:VERSION</c>. The same folder always gives the same manifest digest.
/// </summary>
public static class OsImagePublisher
{
    private const string TitleAnnotation = "org.opencontainers.image.title";
    private const string VersionAnnotation = "org.opencontainers.image.version";

    /// <summary>The artifact for a signed folder; refuses an unsigned one, or one signed for another version.</summary>
    public static async Task<OsImageArtifactContent> DescribeAsync(string directory, string version, CancellationToken ct)
    {
        OsImageFolder.CheckVersion(version);
        var (signature, signatureBytes) = await OsImageFolder.ReadSignedAsync(directory, ct);
        if (signature.Version != version)
            throw new OsImageFolderException($"{directory} is signed as version {signature.Version}, not {version}; push it as {signature.Version}, or sign it again with `outpost image sign {directory} --key KEY.pem --version {version}` (it must be built as {version} too).");

        var blobs = new List<OsImageBlob>();
        var mediaTypes = new[] { OsImageArtifact.RootfsMediaType, OsImageArtifact.KernelMediaType, OsImageArtifact.InitrdMediaType };
        var hashes = new[] { signature.RootfsSha256, signature.KernelSha256, signature.InitrdSha256 };
        for (var i = 0; i < OsImageFolder.PayloadFiles.Count; i++)
        {
            var path = OsImageFolder.PayloadPath(directory, OsImageFolder.PayloadFiles[i]);
            blobs.Add(new OsImageBlob(new Descriptor
            {
                MediaType = mediaTypes[i],
                // Checked against the files by ReadSignedAsync; the registry checks them again while it receives them.
                Digest = OciDigest.Parse("sha256:" + hashes[i]),
                Size = new FileInfo(path).Length,
                Annotations = new Dictionary<string, string> { [TitleAnnotation] = OsImageFolder.PayloadFiles[i] },
            }, path, null));
        }

        blobs.Add(new OsImageBlob(Descriptor.For(OsImageArtifact.SignatureMediaType, signatureBytes) with
        {
            Annotations = new Dictionary<string, string> { [TitleAnnotation] = OsImageArtifact.SignatureFile },
        }, null, signatureBytes));

        var config = OciJson.Serialize(new ImageConfig
        {
            Architecture = OsImageArtifact.Architecture,
            Os = "linux",
            Config = new ContainerConfig { Labels = new Dictionary<string, string> { [OsImageArtifact.VersionLabel] = version } },
            // The layers are stored uncompressed, so each diff_id is the layer digest (pullers check one per layer).
            RootFs = new RootFs { Type = "layers", DiffIds = blobs.Select(b => b.Descriptor.Digest).ToList() },
        });
        var configBlob = new OsImageBlob(Descriptor.For(MediaTypes.OciConfig, config), null, config);
        var manifest = OciJson.Serialize(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = configBlob.Descriptor,
            Layers = blobs.Select(b => b.Descriptor).ToList(),
            Annotations = new Dictionary<string, string> { [VersionAnnotation] = version },
        });
        return new OsImageArtifactContent(version, manifest, OciDigest.Compute(manifest), [configBlob, .. blobs]);
    }

    /// <summary>
    /// Pushes the folder to <paramref name="registry"/> (HOST:PORT) as <c>outpost/os:VERSION</c>, blobs first, and
    /// returns the artifact (its digest is what a device's content tree pins).
    /// </summary>
    public static async Task<OsImageArtifactContent> PushAsync(string directory, string version, RegistryClient client, string registry,
        IProgress<string>? progress, CancellationToken ct)
    {
        var artifact = await DescribeAsync(directory, version, ct);
        var reference = ImageReference.Parse($"{registry}/{OsImageArtifact.Repository}:{version}");
        foreach (var blob in artifact.Blobs)
        {
            var name = blob.Descriptor.Annotations?.GetValueOrDefault(TitleAnnotation) ?? "config";
            var uploaded = await client.UploadBlobAsync(reference, blob.Descriptor, blob.Open, ct);
            progress?.Report($"{(uploaded ? "pushed" : "exists")} {name} ({blob.Descriptor.Size} bytes, {blob.Descriptor.Digest})");
        }

        var digest = await client.PutManifestAsync(reference, MediaTypes.OciManifest, artifact.Manifest, ct);
        progress?.Report($"manifest {reference} {digest}");
        return artifact;
    }
}
