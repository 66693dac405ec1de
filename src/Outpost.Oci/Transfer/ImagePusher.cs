using System.Text.Json;
using System.Text.Json.Serialization;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;

namespace Outpost.Oci.Transfer;

/// <summary>Copies images to a registry from an <see cref="OciLayout"/> or from an oci-archive / docker-archive tar.</summary>
public sealed class ImagePusher(RegistryClient client)
{
    private const int MaxNesting = 4;

    /// <summary>
    /// Pushes the root named <paramref name="name"/> (a manifest, or an index with every child it holds locally) to
    /// <paramref name="target"/>, blobs first. Returns the digest of the top manifest or index.
    /// </summary>
    public async Task<OciDigest> PushAsync(OciLayout layout, string name, ImageReference target, CancellationToken cancellationToken = default)
    {
        var index = await layout.ReadIndexAsync(cancellationToken);
        var root = index.Manifests.FirstOrDefault(m => m.RefName == name)
            ?? (OciDigest.TryParse(name, out var digest) ? index.Manifests.FirstOrDefault(m => m.Digest == digest) : null)
            ?? throw new ImageNotFoundException(layout.Path, name, index.Manifests.Select(m => m.RefName).OfType<string>().ToList());
        return await PushTreeAsync(layout, root, target, 0, cancellationToken);
    }

    /// <summary>
    /// Pushes the image in a tar archive: an OCI layout tarred up (<c>oci-archive</c>), or <c>docker save</c> output
    /// (<c>docker-archive</c>, pushed as a Docker schema-2 manifest). The archive must hold exactly one image.
    /// </summary>
    public async Task<OciDigest> PushArchiveAsync(string archivePath, ImageReference target, CancellationToken cancellationToken = default)
    {
        var unpacked = Path.Combine(Path.GetTempPath(), "outpost-archive-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var archive = File.OpenRead(archivePath))
                await LayerExtractor.ExtractAsync(archive, unpacked, new ExtractionPolicy { ApplyOwnership = false }, cancellationToken);
            if (File.Exists(Path.Combine(unpacked, "oci-layout")))
            {
                var layout = OciLayout.Open(unpacked);
                var roots = (await layout.ReadIndexAsync(cancellationToken)).Manifests;
                if (roots.Count != 1)
                    throw new UnsupportedContentException($"Archive {archivePath} holds {roots.Count} images; push needs exactly one.");
                return await PushTreeAsync(layout, roots[0], target, 0, cancellationToken);
            }
            if (File.Exists(Path.Combine(unpacked, "manifest.json")))
                return await PushDockerArchiveAsync(unpacked, archivePath, target, cancellationToken);
            throw new UnsupportedContentException($"{archivePath} is neither an oci-archive (no oci-layout file) nor a docker-archive (no manifest.json).");
        }
        finally
        {
            if (Directory.Exists(unpacked))
                Directory.Delete(unpacked, recursive: true);
        }
    }

    private async Task<OciDigest> PushTreeAsync(OciLayout layout, Descriptor node, ImageReference target, int depth, CancellationToken cancellationToken)
    {
        var content = await layout.ReadBlobAsync(node.Digest, cancellationToken);
        if (MediaTypes.IsIndex(node.MediaType))
        {
            if (depth >= MaxNesting)
                throw new UnsupportedContentException($"Index {node.Digest} nests deeper than {MaxNesting} levels.");
            var index = OciJson.Deserialize<ImageIndex>(content, $"index {node.Digest}");
            foreach (var child in index.Manifests)
            {
                if (!layout.HasBlob(child.Digest))
                    throw new UnsupportedContentException($"Index {node.Digest} in {layout.Path} lists {child.Digest}, which the layout does not hold; a registry would reject the index. Copy all platforms first.");
                await PushTreeAsync(layout, child, ByDigest(target, child.Digest), depth + 1, cancellationToken);
            }
        }
        else if (MediaTypes.IsManifest(node.MediaType))
        {
            var manifest = OciJson.Deserialize<ImageManifest>(content, $"manifest {node.Digest}");
            foreach (var blob in manifest.Layers.Prepend(manifest.Config))
                await client.UploadBlobAsync(target, blob, () => layout.OpenBlob(blob.Digest), cancellationToken);
        }
        else
        {
            throw new UnsupportedContentException($"Root {node.Digest} has media type {node.MediaType}, which is neither a manifest nor an index.");
        }
        return await client.PutManifestAsync(target, node.MediaType, content, cancellationToken);
    }

    private async Task<OciDigest> PushDockerArchiveAsync(string dir, string archivePath, ImageReference target, CancellationToken cancellationToken)
    {
        var entries = JsonSerializer.Deserialize<List<DockerArchiveEntry>>(await File.ReadAllBytesAsync(Path.Combine(dir, "manifest.json"), cancellationToken));
        if (entries is not { Count: 1 })
            throw new UnsupportedContentException($"Docker archive {archivePath} must hold exactly one image; it holds {entries?.Count ?? 0}.");
        var entry = entries[0];
        var config = await DescribeFileAsync(dir, entry.Config, MediaTypes.DockerConfig, archivePath, cancellationToken);
        var layers = new List<(Descriptor Descriptor, string Path)>();
        foreach (var layerPath in entry.Layers)
        {
            var path = ArchivePath(dir, layerPath, archivePath);
            var mediaType = await IsGzipAsync(path, cancellationToken) ? MediaTypes.DockerLayerGzip : MediaTypes.DockerLayer;
            layers.Add(await DescribeFileAsync(dir, layerPath, mediaType, archivePath, cancellationToken));
        }
        foreach (var (descriptor, path) in layers.Prepend(config))
            await client.UploadBlobAsync(target, descriptor, () => File.OpenRead(path), cancellationToken);
        var manifest = OciJson.Serialize(new ImageManifest
        {
            MediaType = MediaTypes.DockerManifest,
            Config = config.Descriptor,
            Layers = layers.Select(l => l.Descriptor).ToList(),
        });
        return await client.PutManifestAsync(target, MediaTypes.DockerManifest, manifest, cancellationToken);
    }

    private static async Task<(Descriptor Descriptor, string Path)> DescribeFileAsync(string dir, string relative, string mediaType, string archivePath, CancellationToken cancellationToken)
    {
        var path = ArchivePath(dir, relative, archivePath);
        await using var file = File.OpenRead(path);
        var digest = await OciDigest.ComputeAsync(file, cancellationToken);
        return (new Descriptor { MediaType = mediaType, Digest = digest, Size = file.Length }, path);
    }

    private static string ArchivePath(string dir, string relative, string archivePath)
    {
        var full = Path.GetFullPath(Path.Join(dir, relative));
        if (!full.StartsWith(dir + "/", StringComparison.Ordinal) || !File.Exists(full))
            throw new UnsupportedContentException($"Docker archive {archivePath} names '{relative}', which is not a file inside the archive.");
        return full;
    }

    private static async Task<bool> IsGzipAsync(string path, CancellationToken cancellationToken)
    {
        var head = new byte[2];
        await using var file = File.OpenRead(path);
        return await file.ReadAtLeastAsync(head, 2, throwOnEndOfStream: false, cancellationToken) == 2 && head[0] == 0x1f && head[1] == 0x8b;
    }

    private static ImageReference ByDigest(ImageReference target, OciDigest digest) => ImageReference.Parse($"{target.Name}@{digest}");

    private sealed record DockerArchiveEntry
    {
        [JsonPropertyName("Config")] public string Config { get; init; } = "";
        [JsonPropertyName("RepoTags")] public IReadOnlyList<string>? RepoTags { get; init; }
        [JsonPropertyName("Layers")] public IReadOnlyList<string> Layers { get; init; } = [];
    }
}
