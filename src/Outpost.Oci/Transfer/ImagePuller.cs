using Outpost.Oci.Artifacts;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;

namespace Outpost.Oci.Transfer;

/// <summary>Settings for <see cref="ImagePuller"/>.</summary>
public sealed record ImagePullOptions
{
    /// <summary>The most bytes (config plus compressed layers) one image may take; larger images fail before download.</summary>
    public long MaxTotalBytes { get; init; } = long.MaxValue;
}

/// <summary>Copies one platform of a registry image into an <see cref="OciLayout"/>, verifying every blob.</summary>
public sealed class ImagePuller(RegistryClient client, ImagePullOptions? options = null)
{
    private readonly ImagePullOptions _options = options ?? new ImagePullOptions();

    /// <summary>
    /// Pulls <paramref name="reference"/> for <paramref name="platform"/> (default linux/amd64) into
    /// <paramref name="layout"/>, skipping blobs it already has and resuming interrupted ones. The manifest becomes a root
    /// named by the canonical reference (<see cref="ImageReference.ToString"/>). <paramref name="progress"/> receives the
    /// total bytes downloaded so far.
    /// </summary>
    public async Task<ResolvedImage> PullAsync(
        ImageReference reference, OciLayout layout, Platform? platform = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var remote = await client.ResolveImageAsync(reference, platform, cancellationToken);
        var manifest = remote.ParsedManifest;
        var blobs = manifest.Layers.Prepend(manifest.Config).ToList();
        var totalBytes = blobs.Sum(b => b.Size);
        if (totalBytes > _options.MaxTotalBytes)
            throw new QuotaExceededException($"Image {reference}", _options.MaxTotalBytes, totalBytes);

        long completed = 0;
        foreach (var blob in blobs)
        {
            if (!layout.HasBlob(blob.Digest))
            {
                var destination = layout.GetBlobPath(blob.Digest);
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                var before = completed;
                var blobProgress = progress is null ? null : new InlineProgress(bytes => progress.Report(before + bytes));
                await client.DownloadBlobAsync(reference, blob, destination, blobProgress, cancellationToken);
            }
            completed += blob.Size;
            progress?.Report(completed);
        }

        // A disk artifact (ECI) is stored as pulled: its layer is a disk file, not a tar, and its config lists no
        // diff ids (it may not even be an image config), so the container-image checks do not apply.
        var isDisk = DiskArtifact.IsDiskArtifact(manifest);
        var configBytes = await layout.ReadBlobAsync(manifest.Config.Digest, cancellationToken);
        var config = isDisk ? TryParseConfig(configBytes) : OciJson.Deserialize<ImageConfig>(configBytes, $"config of {reference}");
        if (!isDisk)
            CheckDiffIds(reference, manifest, config);

        var manifestDescriptor = await layout.WriteBlobAsync(remote.Manifest.MediaType, remote.Manifest.Content, cancellationToken);
        var rootName = reference.ToString();
        await layout.TagAsync(rootName, manifestDescriptor with { Platform = isDisk ? null : config.Platform }, cancellationToken);
        return new ResolvedImage { Name = rootName, ManifestDescriptor = manifestDescriptor, Manifest = manifest, Config = config };
    }

    private static ImageConfig TryParseConfig(byte[] content)
    {
        try
        {
            return OciJson.Deserialize<ImageConfig>(content, "config");
        }
        catch (UnsupportedContentException)
        {
            return new ImageConfig();
        }
    }

    // Cheap checks only: the count always, the digest for uncompressed layers (where diff id equals blob digest).
    // Compressed layers are checked when they are unpacked (ImageUnpacker), where the hash comes for free.
    private static void CheckDiffIds(ImageReference reference, ImageManifest manifest, ImageConfig config)
    {
        if (config.RootFs.DiffIds.Count != manifest.Layers.Count)
            throw new UnsupportedContentException($"Image {reference} lists {manifest.Layers.Count} layers but its config has {config.RootFs.DiffIds.Count} diff_ids. The image is malformed.");
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            var layer = manifest.Layers[i];
            if (layer.MediaType is MediaTypes.OciLayer or MediaTypes.DockerLayer && layer.Digest != config.RootFs.DiffIds[i])
                throw new DigestMismatchException($"uncompressed layer {i} of {reference}", config.RootFs.DiffIds[i].ToString(), layer.Digest.ToString());
        }
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; would post to the thread pool and reorder reports).</summary>
    private sealed class InlineProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
