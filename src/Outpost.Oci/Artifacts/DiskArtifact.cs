using System.Security.Cryptography;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction.Native;
using Outpost.Oci.Layout;

namespace Outpost.Oci.Artifacts;

/// <summary>
/// VM disk images carried in an OCI registry as LF Edge ECI artifacts (what lf-edge/edge-containers pushes and EVE
/// pulls): an image manifest whose config is <see cref="ConfigMediaType"/> (or a standard OCI config) and whose one
/// layer is the disk file itself, uncompressed, with media type <c>application/vnd.lfedge.disk.layer.v1+FORMAT</c>.
/// Registries without custom media types get the same type in the <see cref="MediaTypeAnnotation"/> annotation
/// (edge-containers' legacy mode), which is honoured too.
/// <para>
/// To publish a disk: <see cref="WriteAsync"/> it into a layout, then push that layout's tag with
/// <c>new ImagePusher(client).PushAsync(layout, tag, ImageReference.Parse("host/repo:tag"))</c>. On a device the
/// artifact is pulled by <c>ImagePuller</c> like any image and turned into a file with <see cref="ExportAsync"/>.
/// </para>
/// </summary>
public static class DiskArtifact
{
    /// <summary>The config media type of an ECI (its content is a small JSON document, often <c>{}</c>).</summary>
    public const string ConfigMediaType = "application/vnd.lfedge.eci.config.v1+json";

    /// <summary>Every ECI disk layer's media type starts with this; the format follows (<c>raw</c>, <c>qcow2</c>, <c>vmdk</c>...).</summary>
    public const string LayerMediaTypePrefix = "application/vnd.lfedge.disk.layer.v1+";

    public const string RawLayerMediaType = LayerMediaTypePrefix + "raw";
    public const string Qcow2LayerMediaType = LayerMediaTypePrefix + "qcow2";
    public const string IsoLayerMediaType = LayerMediaTypePrefix + "iso";

    /// <summary>Layer annotation with the ECI media type, for registries that only take standard media types.</summary>
    public const string MediaTypeAnnotation = "org.lfedge.eci.mediaType";

    /// <summary>Layer annotation with the layer's role; <see cref="RootDiskRole"/> marks the boot disk.</summary>
    public const string RoleAnnotation = "org.lfedge.eci.role";

    public const string RootDiskRole = "disk-root";

    /// <summary>The standard annotation naming the file a blob should be stored as.</summary>
    public const string TitleAnnotation = "org.opencontainers.image.title";

    /// <summary>The disk formats <see cref="WriteAsync"/> writes and Outpost runs.</summary>
    public static IReadOnlyList<string> Formats { get; } = ["raw", "qcow2", "iso"];

    /// <summary>Mode of an exported disk: nobody may write it, it is the shared base every app's overlay sits on.</summary>
    public const UnixFileMode ExportedFileMode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private static readonly byte[] Qcow2Magic = [(byte)'Q', (byte)'F', (byte)'I', 0xfb];
    private static readonly byte[] IsoMagic = "CD001"u8.ToArray();
    private const long IsoMagicOffset = 0x8001;

    /// <summary>The layer media type for <paramref name="format"/> (<c>raw</c>, <c>qcow2</c> or <c>iso</c>, any case).</summary>
    /// <exception cref="UnsupportedContentException">Any other format.</exception>
    public static string LayerMediaType(string format) => format.ToLowerInvariant() switch
    {
        "raw" => RawLayerMediaType,
        "qcow2" => Qcow2LayerMediaType,
        "iso" => IsoLayerMediaType,
        _ => throw new UnsupportedContentException(
            $"Disk format '{format}' is not supported; use raw, qcow2 or iso (convert other formats with: qemu-img convert -O qcow2 IN OUT.qcow2)."),
    };

    /// <summary>The ECI media type a layer declares: its own if it is a disk type, else its <see cref="MediaTypeAnnotation"/>.</summary>
    private static string? DeclaredMediaType(Descriptor layer) =>
        layer.MediaType.StartsWith(LayerMediaTypePrefix, StringComparison.Ordinal) ? layer.MediaType : layer.Annotations?.GetValueOrDefault(MediaTypeAnnotation);

    /// <summary>True when the layer says it is an ECI disk (of any format, including ones Outpost does not run).</summary>
    public static bool IsDiskLayer(Descriptor layer) => DeclaredMediaType(layer)?.StartsWith(LayerMediaTypePrefix, StringComparison.Ordinal) == true;

    /// <summary>The format a disk layer declares (<c>qcow2</c>, <c>raw</c>, <c>vmdk</c>...), or null for any other layer.</summary>
    public static string? FormatOf(Descriptor layer) =>
        IsDiskLayer(layer) ? DeclaredMediaType(layer)![LayerMediaTypePrefix.Length..].ToLowerInvariant() : null;

    /// <summary>
    /// True when the manifest is an ECI rather than a container image (ECI config, or a disk layer): its layers are not
    /// tar archives and its config lists no diff ids, so container-image checks do not apply.
    /// </summary>
    public static bool IsDiskArtifact(ImageManifest manifest) =>
        manifest.Config.MediaType == ConfigMediaType || manifest.Layers.Any(IsDiskLayer);

    /// <summary>
    /// The layer holding the disk: the one that declares a disk media type (the <see cref="RootDiskRole"/> one when
    /// there are several), else the only layer of a one-layer manifest (an artifact pushed with a generic media type),
    /// else null.
    /// </summary>
    public static Descriptor? FindDiskLayer(ImageManifest manifest)
    {
        var disks = manifest.Layers.Where(IsDiskLayer).ToList();
        if (disks.Count > 0)
        {
            return disks.FirstOrDefault(l => l.Annotations?.GetValueOrDefault(RoleAnnotation) == RootDiskRole) ?? disks[0];
        }

        return manifest.Layers.Count == 1 ? manifest.Layers[0] : null;
    }

    /// <summary>
    /// Stores the disk file at <paramref name="diskPath"/> in <paramref name="layout"/> as an ECI artifact (the disk
    /// blob, a <c>{}</c> config of <see cref="ConfigMediaType"/>, an OCI image manifest) and makes it the root named
    /// <paramref name="tag"/>. Returns the manifest's descriptor; push it with <c>ImagePusher.PushAsync(layout, tag, …)</c>.
    /// The blob is hard-linked into the layout when both are on one filesystem (no copy of a large disk), else copied:
    /// do not change the disk file until the push is done. A qcow2 or ISO whose header is not one is refused here
    /// rather than on the device.
    /// </summary>
    /// <param name="layout">Where to store it, e.g. a temp layout made with <c>OciLayout.CreateAsync</c>.</param>
    /// <param name="diskPath">The disk image file.</param>
    /// <param name="format"><c>raw</c>, <c>qcow2</c> or <c>iso</c>.</param>
    /// <param name="tag">The root name in the layout (what <c>ImagePusher.PushAsync</c> is given).</param>
    /// <param name="cancellationToken">Stops hashing or copying.</param>
    /// <exception cref="UnsupportedContentException">Unknown format, or the file does not look like one.</exception>
    public static async Task<Descriptor> WriteAsync(OciLayout layout, string diskPath, string format, string tag, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        var mediaType = LayerMediaType(format);
        if (!File.Exists(diskPath))
        {
            throw new UnsupportedContentException($"Disk image {diskPath} does not exist; give the path of a {format} file.");
        }

        await CheckHeaderAsync(diskPath, diskPath, format.ToLowerInvariant(), cancellationToken).ConfigureAwait(false);
        var blob = await StoreBlobAsync(layout, diskPath, mediaType, cancellationToken).ConfigureAwait(false);
        var descriptor = await WriteManifestAsync(layout, blob, Path.GetFileName(diskPath), cancellationToken).ConfigureAwait(false);
        await layout.TagAsync(tag, descriptor, cancellationToken).ConfigureAwait(false);
        return descriptor;
    }

    /// <summary>
    /// Makes a disk file the caller has just written into <paramref name="layout"/> (at a
    /// <see cref="OciLayout.NewTempBlobPath"/>) and hashed while writing it an ECI artifact, as <see cref="WriteAsync"/>
    /// would, without reading the disk a second time: the header is checked, the file is renamed to its blob (or
    /// dropped when that blob is already there) and the manifest is written. Returns the manifest's descriptor,
    /// untagged: the caller names it. A file that is refused is deleted, so nothing of it stays in the store.
    /// </summary>
    /// <param name="layout">The layout the file was written into.</param>
    /// <param name="downloadedPath">The disk file, on the layout's filesystem.</param>
    /// <param name="digest">Its SHA-256, as the caller computed it while writing the file.</param>
    /// <param name="format"><c>raw</c>, <c>qcow2</c> or <c>iso</c>.</param>
    /// <param name="title">Where it came from (a file name or URL): the layer's title, and what errors call it.</param>
    /// <param name="cancellationToken">Stops the header check.</param>
    /// <exception cref="UnsupportedContentException">Unknown format, or the file does not look like one.</exception>
    public static async Task<Descriptor> AdoptAsync(
        OciLayout layout, string downloadedPath, OciDigest digest, string format, string title, CancellationToken cancellationToken = default)
    {
        try
        {
            var mediaType = LayerMediaType(format);
            await CheckHeaderAsync(downloadedPath, title, format.ToLowerInvariant(), cancellationToken).ConfigureAwait(false);
            var blob = new Descriptor { MediaType = mediaType, Digest = digest, Size = new FileInfo(downloadedPath).Length };
            if (!layout.HasBlob(digest))
            {
                File.Move(downloadedPath, layout.GetBlobPath(digest));
            }

            return await WriteManifestAsync(layout, blob, title, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(downloadedPath);
        }
    }

    /// <summary>The <c>{}</c> config and the one-layer manifest around a disk blob already in the layout.</summary>
    private static async Task<Descriptor> WriteManifestAsync(OciLayout layout, Descriptor blob, string title, CancellationToken cancellationToken)
    {
        var layer = blob with
        {
            Annotations = new Dictionary<string, string>
            {
                [MediaTypeAnnotation] = blob.MediaType,
                [RoleAnnotation] = RootDiskRole,
                [TitleAnnotation] = title,
            },
        };
        var config = await layout.WriteBlobAsync(ConfigMediaType, "{}"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        var manifest = OciJson.Serialize(new ImageManifest { MediaType = MediaTypes.OciManifest, Config = config, Layers = [layer] });
        return await layout.WriteBlobAsync(MediaTypes.OciManifest, manifest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes the disk of the artifact named <paramref name="imageName"/> in <paramref name="layout"/> the file
    /// <paramref name="targetPath"/>, mode <see cref="ExportedFileMode"/>: a hard link to the blob (so N volumes of one
    /// artifact share its bytes; the blob turns read-only too, as store content should be), or a verified copy when
    /// the link fails (another filesystem). A blob larger than <paramref name="maxBytes"/> (0 = no limit) is refused.
    /// </summary>
    /// <exception cref="QuotaExceededException">The disk is larger than <paramref name="maxBytes"/>.</exception>
    /// <exception cref="UnsupportedContentException">No disk layer, a container image, or a missing or damaged blob.</exception>
    public static async Task<ExportedDisk> ExportAsync(OciLayout layout, string imageName, string targetPath, long maxBytes, CancellationToken cancellationToken = default)
    {
        var manifest = await ReadManifestAsync(layout, imageName, cancellationToken).ConfigureAwait(false);
        var layer = FindDiskLayer(manifest)
            ?? throw new UnsupportedContentException(
                $"Image {imageName} has {manifest.Layers.Count} layers and none is a disk ({LayerMediaTypePrefix}FORMAT); push the disk as an artifact of one layer (outpost image push-disk).");
        if (!IsDiskLayer(layer) && IsContainerLayer(layer.MediaType))
        {
            throw new UnsupportedContentException(
                $"Image {imageName} is a container image (its layer is {layer.MediaType}), not a disk; give its content tree the format CONTAINER, or push the disk with outpost image push-disk.");
        }

        if (maxBytes > 0 && layer.Size > maxBytes)
        {
            throw new QuotaExceededException($"The disk of {imageName}", maxBytes, layer.Size);
        }

        var blob = layout.GetBlobPath(layer.Digest);
        var info = new FileInfo(blob);
        if (!info.Exists || info.Length != layer.Size)
        {
            throw new UnsupportedContentException(
                $"The content store {layout.Path} lacks the complete disk blob {layer.Digest} of {imageName} ({(info.Exists ? info.Length : 0)} of {layer.Size} bytes); pull the image again.");
        }

        File.Delete(targetPath);
        // Any failed link (EXDEV across filesystems, EMLINK, a filesystem without links) falls back to a copy; a real
        // problem with the target (no space, no permission) then surfaces from the copy.
        var linked = Libc.Link(blob, targetPath) == 0;
        if (!linked)
        {
            await CopyVerifiedAsync(blob, layer, targetPath, cancellationToken).ConfigureAwait(false);
        }

        File.SetUnixFileMode(targetPath, ExportedFileMode);
        return new ExportedDisk(targetPath, layer, FormatOf(layer), linked);
    }

    private static bool IsContainerLayer(string mediaType) =>
        mediaType.StartsWith("application/vnd.oci.image.layer.", StringComparison.Ordinal)
        || mediaType.StartsWith("application/vnd.docker.image.rootfs.", StringComparison.Ordinal);

    private static async Task<ImageManifest> ReadManifestAsync(OciLayout layout, string imageName, CancellationToken cancellationToken)
    {
        var roots = (await layout.ReadIndexAsync(cancellationToken).ConfigureAwait(false)).Manifests.Where(m => m.RefName == imageName).ToList();
        if (roots is [var root] && MediaTypes.IsManifest(root.MediaType))
        {
            // Read directly: an artifact's config need not be an image config, which ResolveAsync would parse.
            return OciJson.Deserialize<ImageManifest>(await layout.ReadBlobAsync(root.Digest, cancellationToken).ConfigureAwait(false), $"manifest {root.Digest}");
        }

        // An index (or a digest name): let the layout pick the platform and report what is missing.
        return (await layout.ResolveAsync(imageName, cancellationToken: cancellationToken).ConfigureAwait(false)).Manifest;
    }

    private static async Task<Descriptor> StoreBlobAsync(OciLayout layout, string diskPath, string mediaType, CancellationToken cancellationToken)
    {
        OciDigest digest;
        long size;
        await using (var file = File.OpenRead(diskPath))
        {
            digest = await OciDigest.ComputeAsync(file, cancellationToken).ConfigureAwait(false);
            size = file.Length;
        }

        var blob = layout.GetBlobPath(digest);
        if (layout.HasBlob(digest) || Libc.Link(diskPath, blob) == 0)
        {
            return new Descriptor { MediaType = mediaType, Digest = digest, Size = size };
        }

        await using var content = File.OpenRead(diskPath);
        return await layout.WriteBlobAsync(mediaType, content, cancellationToken).ConfigureAwait(false);
    }

    private static async Task CopyVerifiedAsync(string blob, Descriptor layer, string targetPath, CancellationToken cancellationToken)
    {
        var temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(targetPath))!, $".{Path.GetFileName(targetPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var source = new FileStream(blob, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true))
            await using (var target = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
            {
                var buffer = new byte[1 << 20];
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }

                target.Flush(flushToDisk: true);
            }

            var actual = OciDigest.FromSha256(hash.GetHashAndReset());
            if (actual != layer.Digest)
            {
                throw new DigestMismatchException($"disk blob {blob}", layer.Digest.ToString(), actual.ToString());
            }

            File.Move(temp, targetPath, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static async Task CheckHeaderAsync(string diskPath, string name, string format, CancellationToken cancellationToken)
    {
        var (magic, offset, what) = format switch
        {
            "qcow2" => (Qcow2Magic, 0L, "a qcow2 image (no QFI\\xfb magic)"),
            "iso" => (IsoMagic, IsoMagicOffset, "an ISO 9660 image (no CD001 descriptor at 0x8001)"),
            _ => (null, 0L, ""),
        };
        if (magic is null)
        {
            return;
        }

        var head = new byte[magic.Length];
        await using var file = File.OpenRead(diskPath);
        file.Position = offset;
        var read = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (read < head.Length || !head.AsSpan().SequenceEqual(magic))
        {
            throw new UnsupportedContentException(
                $"{name} is not {what}; check the format you gave (qemu-img info {name} tells), or convert it with qemu-img convert -O {format}.");
        }
    }
}

/// <summary>A disk exported from a layout by <see cref="DiskArtifact.ExportAsync"/>.</summary>
/// <param name="Path">The read-only file.</param>
/// <param name="Layer">The layer it came from (digest and size of the disk).</param>
/// <param name="Format">The format the layer declares (<c>qcow2</c>, <c>raw</c>...), or null when it declares none.</param>
/// <param name="HardLinked">True when it shares the blob's inode; false when it is a copy.</param>
public sealed record ExportedDisk(string Path, Descriptor Layer, string? Format, bool HardLinked);
