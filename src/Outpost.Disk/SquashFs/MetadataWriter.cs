using System.Buffers.Binary;

namespace Outpost.Disk.SquashFs;

/// <summary>
/// Accumulates a metadata table (inodes, directories, fragment or id entries) as a series of 8 KiB
/// metadata blocks, each prefixed by a 16-bit header (length, bit 15 = stored uncompressed).
/// </summary>
internal sealed class MetadataWriter
{
    public const int BlockSize = 8192;
    private readonly MemoryStream _compressed = new();
    private readonly byte[] _pending = new byte[BlockSize];
    private int _pendingLength;

    /// <summary>Location of the next byte: start of its metadata block in the table, and offset inside the uncompressed block.</summary>
    public (long Block, int Offset) Position => (_compressed.Length, _pendingLength);

    /// <summary>Start (in the table) of every metadata block written so far, in order.</summary>
    public List<long> BlockStarts { get; } = [];

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int chunk = Math.Min(data.Length, BlockSize - _pendingLength);
            data[..chunk].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += chunk;
            data = data[chunk..];
            if (_pendingLength == BlockSize)
            {
                FlushBlock();
            }
        }
    }

    /// <summary>Writes the last partial block and returns the whole table.</summary>
    public byte[] Finish()
    {
        if (_pendingLength > 0)
        {
            FlushBlock();
        }
        return _compressed.ToArray();
    }

    private void FlushBlock()
    {
        BlockStarts.Add(_compressed.Length);
        var (stored, compressed) = BlockCompressor.Compress(_pending.AsMemory(0, _pendingLength));
        Span<byte> header = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)(stored.Length | (compressed ? 0 : 0x8000)));
        _compressed.Write(header);
        _compressed.Write(stored.Span);
        _pendingLength = 0;
    }
}
