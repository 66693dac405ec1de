using System.Buffers.Binary;
using System.Numerics;

namespace Outpost.Disk.SquashFs;

/// <summary>
/// Writes a squashfs 4.0 image with zlib ("gzip") compression, as the Linux kernel and
/// unsquashfs read it: data blocks with tail fragments, inode and directory tables (with
/// directory indexes for large directories), fragment and id tables, no xattrs and no export
/// table. File contents are streamed one block at a time; only metadata is kept in memory.
/// Identical entries and options give identical bytes.
/// </summary>
public static class SquashFsWriter
{
    private const uint Magic = 0x73717368;
    private const ushort GzipCompression = 1;
    private const ushort NoXattrsFlag = 0x0200;
    private const int SuperblockSize = 96;
    private const int PaddingAlignment = 4096;
    private const ulong NotPresent = ulong.MaxValue;

    /// <summary>
    /// Writes the image starting at the current position of <paramref name="output"/>, which
    /// must be seekable (the superblock is written last, at the start). Returns the image size
    /// including the padding to a 4 KiB multiple.
    /// </summary>
    /// <exception cref="SquashFsFormatException">Invalid paths, duplicates, missing content or an invalid block size.</exception>
    public static async Task<long> WriteAsync(Stream output, IEnumerable<SquashFsEntry> entries, SquashFsOptions options, CancellationToken cancellationToken = default)
    {
        if (!output.CanSeek)
        {
            throw new ArgumentException("The squashfs writer needs a seekable output stream to write the superblock last.", nameof(output));
        }
        int blockSize = options.BlockSize;
        if (blockSize < 4096 || blockSize > 1 << 20 || (blockSize & (blockSize - 1)) != 0)
        {
            throw new SquashFsFormatException($"Block size {blockSize} is invalid; use a power of two from 4096 to 1048576.");
        }
        var root = SquashFsTree.Build(entries, options);
        var nodes = Flatten(root).ToList();
        var ids = nodes.SelectMany(n => new[] { n.Entry.Uid, n.Entry.Gid }).Distinct().Order().ToList();
        if (ids.Count > ushort.MaxValue)
        {
            throw new SquashFsFormatException($"The image uses {ids.Count} distinct uid/gid values; squashfs allows at most 65535.");
        }
        var idIndex = ids.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => (ushort)p.i);

        long imageStart = output.Position;
        await output.WriteAsync(new byte[SuperblockSize], cancellationToken);

        var data = new FileDataWriter(output, imageStart, blockSize);
        foreach (var file in nodes.Where(n => n.Entry.Type == SquashFsEntryType.File))
        {
            await data.WriteFileAsync(file, cancellationToken);
        }
        await data.FinishAsync(cancellationToken);

        var tables = new InodeTableBuilder(idIndex);
        tables.AssignNumbers(root);
        tables.WriteTree(root);

        long inodeTableStart = output.Position - imageStart;
        await output.WriteAsync(tables.Inodes.Finish(), cancellationToken);
        long directoryTableStart = output.Position - imageStart;
        await output.WriteAsync(tables.Directories.Finish(), cancellationToken);
        long fragmentTableStart = await WriteLookupTableAsync(output, imageStart, data.EncodeFragmentEntries(), cancellationToken);
        var idBytes = new byte[ids.Count * 4];
        for (int i = 0; i < ids.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(idBytes.AsSpan(i * 4), ids[i]);
        }
        long idTableStart = await WriteLookupTableAsync(output, imageStart, idBytes, cancellationToken);
        long bytesUsed = output.Position - imageStart;

        long padded = (bytesUsed + PaddingAlignment - 1) / PaddingAlignment * PaddingAlignment;
        await output.WriteAsync(new byte[padded - bytesUsed], cancellationToken);

        var superblock = new byte[SuperblockSize];
        var s = superblock.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], tables.InodeCount);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], options.ModificationTime);
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], (uint)blockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], (uint)data.Fragments.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(s[20..], GzipCompression);
        BinaryPrimitives.WriteUInt16LittleEndian(s[22..], (ushort)BitOperations.Log2((uint)blockSize));
        BinaryPrimitives.WriteUInt16LittleEndian(s[24..], NoXattrsFlag);
        BinaryPrimitives.WriteUInt16LittleEndian(s[26..], (ushort)ids.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(s[28..], 4);
        BinaryPrimitives.WriteUInt16LittleEndian(s[30..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(s[32..], (root.InodeReference.Block << 16) | (uint)root.InodeReference.Offset);
        BinaryPrimitives.WriteInt64LittleEndian(s[40..], bytesUsed);
        BinaryPrimitives.WriteInt64LittleEndian(s[48..], idTableStart);
        BinaryPrimitives.WriteUInt64LittleEndian(s[56..], NotPresent); // xattr id table
        BinaryPrimitives.WriteInt64LittleEndian(s[64..], inodeTableStart);
        BinaryPrimitives.WriteInt64LittleEndian(s[72..], directoryTableStart);
        BinaryPrimitives.WriteInt64LittleEndian(s[80..], fragmentTableStart);
        BinaryPrimitives.WriteUInt64LittleEndian(s[88..], NotPresent); // export table
        long end = output.Position;
        output.Position = imageStart;
        await output.WriteAsync(superblock, cancellationToken);
        output.Position = end;
        await output.FlushAsync(cancellationToken);
        return padded;
    }

    /// <summary>
    /// Writes a table of fixed-size entries as metadata blocks followed by the list of their
    /// absolute positions; returns the position of that list, which the superblock points to.
    /// </summary>
    private static async Task<long> WriteLookupTableAsync(Stream output, long imageStart, byte[] entries, CancellationToken cancellationToken)
    {
        var table = new MetadataWriter();
        table.Write(entries);
        long tableStart = output.Position - imageStart;
        await output.WriteAsync(table.Finish(), cancellationToken);
        var pointers = new byte[table.BlockStarts.Count * 8];
        for (int i = 0; i < table.BlockStarts.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(pointers.AsSpan(i * 8), tableStart + table.BlockStarts[i]);
        }
        long listStart = output.Position - imageStart;
        await output.WriteAsync(pointers, cancellationToken);
        return listStart;
    }

    private static IEnumerable<SquashFsNode> Flatten(SquashFsNode directory)
    {
        yield return directory;
        foreach (var child in directory.SortedChildren)
        {
            if (child.IsDirectory)
            {
                foreach (var descendant in Flatten(child))
                {
                    yield return descendant;
                }
            }
            else
            {
                yield return child;
            }
        }
    }
}
