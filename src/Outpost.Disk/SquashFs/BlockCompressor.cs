using System.IO.Compression;

namespace Outpost.Disk.SquashFs;

/// <summary>zlib compression (squashfs "gzip") with the rule that a block is stored raw when compressing does not shrink it.</summary>
internal static class BlockCompressor
{
    /// <summary>Returns the bytes to store and whether they are compressed.</summary>
    public static (ReadOnlyMemory<byte> Stored, bool Compressed) Compress(ReadOnlyMemory<byte> raw)
    {
        var output = new MemoryStream(raw.Length / 2 + 64);
        using (var zlib = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            zlib.Write(raw.Span);
        }
        return output.Length < raw.Length
            ? (output.GetBuffer().AsMemory(0, (int)output.Length), true)
            : (raw, false);
    }
}
