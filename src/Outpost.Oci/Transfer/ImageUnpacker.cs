using Outpost.Oci.Errors;
using Outpost.Oci.Extraction;
using Outpost.Oci.Extraction.Streams;
using Outpost.Oci.Layout;

namespace Outpost.Oci.Transfer;

/// <summary>Builds a root filesystem from an image in a layout: every layer in order, each checked against its digest and diff id.</summary>
public static class ImageUnpacker
{
    /// <summary>Extracts all layers of <paramref name="image"/> into <paramref name="rootDir"/>; <paramref name="policy"/>'s byte limit covers the whole image.</summary>
    public static async Task<long> UnpackAsync(
        OciLayout layout, ResolvedImage image, string rootDir, ExtractionPolicy policy, CancellationToken cancellationToken = default)
    {
        long written = 0;
        for (var i = 0; i < image.Layers.Count; i++)
        {
            var layer = image.Layers[i];
            await using var file = layout.OpenBlob(layer.Digest);
            await using var hashing = new HashingReadStream(file);
            var remaining = policy.MaxBytes == long.MaxValue ? long.MaxValue : policy.MaxBytes - written;
            var result = await LayerExtractor.ExtractAsync(hashing, rootDir, policy with { MaxBytes = remaining }, cancellationToken);
            await hashing.CopyToAsync(Stream.Null, cancellationToken);
            var blobDigest = Content.OciDigest.FromSha256(hashing.GetHash());
            if (blobDigest != layer.Digest)
                throw new DigestMismatchException($"layer {i} of {image.Name}", layer.Digest.ToString(), blobDigest.ToString());
            if (i < image.Config.RootFs.DiffIds.Count && result.DiffId != image.Config.RootFs.DiffIds[i])
                throw new DigestMismatchException($"uncompressed layer {i} of {image.Name} (rootfs.diff_ids)", image.Config.RootFs.DiffIds[i].ToString(), result.DiffId.ToString());
            written += result.BytesWritten;
        }
        return written;
    }
}
