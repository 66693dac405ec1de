using System.IO.Compression;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction.Streams;

namespace Outpost.Oci.Extraction;

/// <summary>
/// Recognises a layer's compression by its magic bytes (media types lie often enough) and undoes it. Shared by the
/// extractor and the image builder, which composes layers tar-to-tar.
/// </summary>
public static class LayerDecompression
{
    private static readonly byte[] GzipMagic = [0x1f, 0x8b];
    private static readonly byte[] ZstdMagic = [0x28, 0xb5, 0x2f, 0xfd];

    /// <summary>The uncompressed tar stream; throws <see cref="UnsupportedContentException"/> for zstd.</summary>
    public static async Task<Stream> OpenAsync(Stream layer, CancellationToken cancellationToken)
    {
        var head = new byte[4];
        var filled = 0;
        while (filled < head.Length)
        {
            var n = await layer.ReadAsync(head.AsMemory(filled), cancellationToken);
            if (n == 0)
                break;
            filled += n;
        }
        var prefix = head[..filled];
        var replay = new PrefixedReadStream(prefix, layer);
        if (prefix.AsSpan().StartsWith(GzipMagic))
            return new GZipStream(replay, CompressionMode.Decompress);
        if (prefix.AsSpan().StartsWith(ZstdMagic))
            throw new UnsupportedContentException("The layer is zstd-compressed, which is not supported yet. Use an image with gzip or uncompressed layers (e.g. rebuild or convert it with skopeo/buildah).");
        return replay;
    }
}
