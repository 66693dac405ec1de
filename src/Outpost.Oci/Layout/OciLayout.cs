using System.Security.Cryptography;
using System.Text;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;

namespace Outpost.Oci.Layout;

/// <summary>
/// A directory in OCI image-layout form (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/&lt;hex&gt;</c>) used as a
/// content-addressed store. Roots are the <c>index.json</c> entries (named by <see cref="Descriptor.RefNameAnnotation"/>);
/// a blob stays alive while it is reachable from a root. Every write is atomic (temp file, fsync, rename).
/// </summary>
public sealed class OciLayout
{
    private const string LayoutFileName = "oci-layout";
    private const string IndexFileName = "index.json";
    private const string PartialSuffix = ".partial";
    private const int MaxNesting = 4;
    private static readonly byte[] LayoutFileContent = Encoding.UTF8.GetBytes("{\"imageLayoutVersion\":\"1.0.0\"}");

    // Serializes read-modify-write cycles of index.json within this process.
    private readonly SemaphoreSlim _indexLock = new(1, 1);

    private OciLayout(string path) => Path = System.IO.Path.GetFullPath(path);

    /// <summary>The layout directory.</summary>
    public string Path { get; }

    /// <summary>Opens an existing layout, e.g. one written by <c>skopeo copy … oci:DIR:tag</c>.</summary>
    public static OciLayout Open(string path)
    {
        var layout = new OciLayout(path);
        var marker = System.IO.Path.Combine(layout.Path, LayoutFileName);
        if (!File.Exists(marker))
            throw new UnsupportedContentException($"{layout.Path} is not an OCI image layout: it has no {LayoutFileName} file. Create it with OciLayout.CreateAsync or point to the right directory.");
        return layout;
    }

    /// <summary>Opens the layout at <paramref name="path"/>, creating an empty one first if needed.</summary>
    public static async Task<OciLayout> CreateAsync(string path, CancellationToken cancellationToken = default)
    {
        var layout = new OciLayout(path);
        Directory.CreateDirectory(System.IO.Path.Combine(layout.Path, "blobs", "sha256"));
        var marker = System.IO.Path.Combine(layout.Path, LayoutFileName);
        if (!File.Exists(marker))
            await AtomicFile.WriteAllBytesAsync(marker, LayoutFileContent, cancellationToken);
        var index = System.IO.Path.Combine(layout.Path, IndexFileName);
        if (!File.Exists(index))
            await AtomicFile.WriteAllBytesAsync(index, OciJson.Serialize(new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = [] }), cancellationToken);
        return layout;
    }

    /// <summary>Where the blob with <paramref name="digest"/> lives (whether or not it exists).</summary>
    public string GetBlobPath(OciDigest digest) => System.IO.Path.Combine(Path, "blobs", digest.Algorithm, digest.Hex);

    /// <summary>Where an interrupted download of <paramref name="digest"/> is kept so it can resume.</summary>
    public string GetPartialPath(OciDigest digest) => GetBlobPath(digest) + PartialSuffix;

    public bool HasBlob(OciDigest digest) => File.Exists(GetBlobPath(digest));

    /// <summary>
    /// A fresh temp file name beside the blobs, for content whose digest is known only once it is written (a rename
    /// then puts it in place); the garbage collector deletes it if it is left behind.
    /// </summary>
    public string NewTempBlobPath() => AtomicFile.TempPathFor(System.IO.Path.Combine(Path, "blobs", "sha256", "download"));

    /// <summary>Opens a blob for reading; throws <see cref="FileNotFoundException"/> when absent.</summary>
    public Stream OpenBlob(OciDigest digest) =>
        new FileStream(GetBlobPath(digest), FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);

    /// <summary>Reads a (small) blob fully and verifies its digest.</summary>
    public async Task<byte[]> ReadBlobAsync(OciDigest digest, CancellationToken cancellationToken = default)
    {
        digest.EnsureSha256();
        var path = GetBlobPath(digest);
        if (!File.Exists(path))
            throw new UnsupportedContentException($"OCI layout {Path} is missing blob {digest}. The layout is incomplete; copy or pull the image again.");
        var bytes = await File.ReadAllBytesAsync(path, cancellationToken);
        var actual = OciDigest.Compute(bytes);
        if (actual != digest)
            throw new DigestMismatchException($"blob {path}", digest.ToString(), actual.ToString());
        return bytes;
    }

    /// <summary>Stores bytes as a blob and returns their descriptor.</summary>
    public async Task<Descriptor> WriteBlobAsync(string mediaType, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var descriptor = Descriptor.For(mediaType, content.Span);
        var path = GetBlobPath(descriptor.Digest);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            await AtomicFile.WriteAllBytesAsync(path, content, cancellationToken);
        }
        return descriptor;
    }

    /// <summary>Streams content into the store, hashing as it goes, and returns its descriptor.</summary>
    public async Task<Descriptor> WriteBlobAsync(string mediaType, Stream content, CancellationToken cancellationToken = default)
    {
        var blobDir = System.IO.Path.Combine(Path, "blobs", "sha256");
        Directory.CreateDirectory(blobDir);
        var temp = AtomicFile.TempPathFor(System.IO.Path.Combine(blobDir, "upload"));
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    size += read;
                }
                file.Flush(flushToDisk: true);
            }
            var digest = OciDigest.FromSha256(hash.GetHashAndReset());
            File.Move(temp, GetBlobPath(digest), overwrite: true);
            return new Descriptor { MediaType = mediaType, Digest = digest, Size = size };
        }
        finally
        {
            AtomicFile.TryDelete(temp);
        }
    }

    /// <summary>Reads <c>index.json</c>: the roots of this layout.</summary>
    public async Task<ImageIndex> ReadIndexAsync(CancellationToken cancellationToken = default)
    {
        var path = System.IO.Path.Combine(Path, IndexFileName);
        if (!File.Exists(path))
            throw new UnsupportedContentException($"OCI layout {Path} has no {IndexFileName}.");
        return OciJson.Deserialize<ImageIndex>(await File.ReadAllBytesAsync(path, cancellationToken), $"{path}");
    }

    /// <summary>
    /// Makes <paramref name="target"/> (a manifest or index already in the store) a root named <paramref name="name"/>,
    /// replacing any root with that name.
    /// </summary>
    public async Task TagAsync(string name, Descriptor target, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        await _indexLock.WaitAsync(cancellationToken);
        try
        {
            var index = await ReadIndexAsync(cancellationToken);
            var annotations = new Dictionary<string, string>(target.Annotations ?? new Dictionary<string, string>())
            {
                [Descriptor.RefNameAnnotation] = name,
            };
            var entries = index.Manifests.Where(m => m.RefName != name).Append(target with { Annotations = annotations }).ToList();
            await WriteIndexAsync(index with { Manifests = entries }, cancellationToken);
        }
        finally
        {
            _indexLock.Release();
        }
    }

    /// <summary>Removes the root named <paramref name="name"/>; its blobs go at the next garbage collection. Returns false if absent.</summary>
    public async Task<bool> UntagAsync(string name, CancellationToken cancellationToken = default)
    {
        await _indexLock.WaitAsync(cancellationToken);
        try
        {
            var index = await ReadIndexAsync(cancellationToken);
            var kept = index.Manifests.Where(m => m.RefName != name).ToList();
            if (kept.Count == index.Manifests.Count)
                return false;
            await WriteIndexAsync(index with { Manifests = kept }, cancellationToken);
            return true;
        }
        finally
        {
            _indexLock.Release();
        }
    }

    /// <summary>
    /// Finds the image named <paramref name="name"/> (ref-name annotation, or a manifest digest), follows indexes to the
    /// manifest for <paramref name="platform"/> (default linux/amd64) and loads its config.
    /// </summary>
    public async Task<ResolvedImage> ResolveAsync(string name, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        var index = await ReadIndexAsync(cancellationToken);
        var matches = index.Manifests.Where(m => m.RefName == name).ToList();
        if (matches.Count == 0 && OciDigest.TryParse(name, out var digest))
            matches = index.Manifests.Where(m => m.Digest == digest).ToList();
        if (matches.Count == 0 && index.Manifests.Count == 1 && index.Manifests[0].RefName is null && name.Length == 0)
            matches = [index.Manifests[0]];
        if (matches.Count == 0)
            throw new ImageNotFoundException(Path, name, index.Manifests.Select(m => m.RefName).OfType<string>().ToList());

        var requested = platform ?? Platform.LinuxAmd64;
        // Several same-named roots act as an index of their own (one per platform).
        var current = matches.Count == 1 ? matches[0] : PlatformSelector.Select(new ImageIndex { Manifests = matches }, requested, name);
        for (var depth = 0; MediaTypes.IsIndex(current.MediaType); depth++)
        {
            if (depth >= MaxNesting)
                throw new UnsupportedContentException($"Image {name} in {Path} nests indexes deeper than {MaxNesting} levels.");
            var nested = OciJson.Deserialize<ImageIndex>(await ReadBlobAsync(current.Digest, cancellationToken), $"index {current.Digest}");
            current = PlatformSelector.Select(nested, requested, name);
        }
        if (!MediaTypes.IsManifest(current.MediaType))
            throw new UnsupportedContentException($"Image {name} in {Path} points to {current.MediaType}, which is not an image manifest.");

        var manifest = OciJson.Deserialize<ImageManifest>(await ReadBlobAsync(current.Digest, cancellationToken), $"manifest {current.Digest}");
        var config = OciJson.Deserialize<ImageConfig>(await ReadBlobAsync(manifest.Config.Digest, cancellationToken), $"config {manifest.Config.Digest}");
        return new ResolvedImage { Name = name, ManifestDescriptor = current, Manifest = manifest, Config = config };
    }

    /// <summary>Every blob digest reachable from the roots (indexes and manifests are followed; missing children are ignored).</summary>
    public async Task<IReadOnlySet<OciDigest>> GetReachableBlobsAsync(CancellationToken cancellationToken = default)
    {
        var reachable = new HashSet<OciDigest>();
        var pending = new Stack<Descriptor>((await ReadIndexAsync(cancellationToken)).Manifests);
        while (pending.TryPop(out var descriptor))
        {
            if (!reachable.Add(descriptor.Digest) || !HasBlob(descriptor.Digest))
                continue;
            if (MediaTypes.IsIndex(descriptor.MediaType))
            {
                var nested = OciJson.Deserialize<ImageIndex>(await ReadBlobAsync(descriptor.Digest, cancellationToken), $"index {descriptor.Digest}");
                foreach (var child in nested.Manifests)
                    pending.Push(child);
            }
            else if (MediaTypes.IsManifest(descriptor.MediaType))
            {
                var manifest = OciJson.Deserialize<ImageManifest>(await ReadBlobAsync(descriptor.Digest, cancellationToken), $"manifest {descriptor.Digest}");
                pending.Push(manifest.Config);
                foreach (var layer in manifest.Layers)
                    pending.Push(layer);
            }
        }
        return reachable;
    }

    /// <summary>
    /// Deletes blobs no root reaches, stale <c>.partial</c> downloads and temp files, and returns the bytes freed.
    /// Files younger than <paramref name="minimumAge"/> (default one hour) are kept so a pull in progress — whose blobs
    /// are not yet reachable — is not undermined.
    /// </summary>
    public async Task<long> CollectGarbageAsync(TimeSpan? minimumAge = null, CancellationToken cancellationToken = default)
    {
        var cutoff = DateTime.UtcNow - (minimumAge ?? TimeSpan.FromHours(1));
        await _indexLock.WaitAsync(cancellationToken);
        try
        {
            var reachable = await GetReachableBlobsAsync(cancellationToken);
            long freed = 0;
            var blobsRoot = System.IO.Path.Combine(Path, "blobs");
            if (!Directory.Exists(blobsRoot))
                return 0;
            foreach (var algorithmDir in Directory.EnumerateDirectories(blobsRoot))
            {
                var algorithm = System.IO.Path.GetFileName(algorithmDir);
                foreach (var file in Directory.EnumerateFiles(algorithmDir))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var info = new FileInfo(file);
                    if (info.LastWriteTimeUtc > cutoff)
                        continue;
                    var isLeftover = info.Name.EndsWith(PartialSuffix, StringComparison.Ordinal) || info.Name.StartsWith(AtomicFile.TempPrefix, StringComparison.Ordinal);
                    var isUnreachable = OciDigest.TryParse($"{algorithm}:{info.Name}", out var digest) && !reachable.Contains(digest);
                    if (isLeftover || isUnreachable)
                    {
                        freed += info.Length;
                        info.Delete();
                    }
                }
            }
            return freed;
        }
        finally
        {
            _indexLock.Release();
        }
    }

    private Task WriteIndexAsync(ImageIndex index, CancellationToken cancellationToken) =>
        AtomicFile.WriteAllBytesAsync(System.IO.Path.Combine(Path, IndexFileName), OciJson.Serialize(index), cancellationToken);
}
