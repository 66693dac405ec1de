using System.Buffers.Binary;

namespace Outpost.Disk.SquashFs;

/// <summary>
/// Streams file contents into the data area: every full block is compressed and written at once;
/// the tail of each file is packed with other tails into shared fragment blocks. Only one data
/// block and one fragment block are held in memory.
/// </summary>
internal sealed class FileDataWriter(Stream output, long imageStart, int blockSize)
{
    private const uint UncompressedDataFlag = 1u << 24;
    private readonly byte[] _block = new byte[blockSize];
    private readonly byte[] _fragment = new byte[blockSize];
    private int _fragmentLength;

    /// <summary>Fragment table entries (start, stored size with flag), one per fragment block.</summary>
    public List<(long Start, uint Size)> Fragments { get; } = [];

    public async Task WriteFileAsync(SquashFsNode node, CancellationToken cancellationToken)
    {
        node.BlocksStart = output.Position - imageStart;
        await using var content = node.Entry.OpenContent!();
        while (true)
        {
            int read = await content.ReadAtLeastAsync(_block, _block.Length, throwOnEndOfStream: false, cancellationToken);
            node.FileSize += read;
            if (read == _block.Length)
            {
                node.BlockSizes.Add(await WriteBlockAsync(_block, cancellationToken));
                continue;
            }
            if (read > 0)
            {
                await AddTailAsync(node, _block.AsMemory(0, read), cancellationToken);
            }
            break;
        }
    }

    /// <summary>Writes the last, partly filled fragment block.</summary>
    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        if (_fragmentLength > 0)
        {
            await FlushFragmentAsync(cancellationToken);
        }
    }

    private async Task AddTailAsync(SquashFsNode node, ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
    {
        if (_fragmentLength + tail.Length > _fragment.Length)
        {
            await FlushFragmentAsync(cancellationToken);
        }
        node.FragmentIndex = (uint)Fragments.Count;
        node.FragmentOffset = (uint)_fragmentLength;
        tail.CopyTo(_fragment.AsMemory(_fragmentLength));
        _fragmentLength += tail.Length;
    }

    private async Task FlushFragmentAsync(CancellationToken cancellationToken)
    {
        long start = output.Position - imageStart;
        uint size = await WriteBlockAsync(_fragment.AsMemory(0, _fragmentLength), cancellationToken);
        Fragments.Add((start, size));
        _fragmentLength = 0;
    }

    private async Task<uint> WriteBlockAsync(ReadOnlyMemory<byte> raw, CancellationToken cancellationToken)
    {
        var (stored, compressed) = BlockCompressor.Compress(raw);
        await output.WriteAsync(stored, cancellationToken);
        return (uint)stored.Length | (compressed ? 0 : UncompressedDataFlag);
    }

    /// <summary>Encodes the fragment table entries (16 bytes each).</summary>
    public byte[] EncodeFragmentEntries()
    {
        var bytes = new byte[Fragments.Count * 16];
        for (int i = 0; i < Fragments.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 16), Fragments[i].Start);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 16 + 8), Fragments[i].Size);
        }
        return bytes;
    }
}
