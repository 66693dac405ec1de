using System.Buffers.Binary;

namespace Outpost.Disk.Qcow2;

/// <summary>
/// Converts a raw disk image to qcow2 version 3 (64 KiB clusters, 16-bit refcounts, no backing
/// file, no compression). Clusters that are entirely zero are left unallocated, so sparse disks
/// stay small. The layout is fixed (header, refcount table, refcount blocks, L1, L2 tables, data
/// in guest order), so the same raw image always gives the same bytes.
/// </summary>
public static class Qcow2Writer
{
    /// <summary>Cluster size used for every image this writer produces.</summary>
    public const int ClusterSize = 1 << ClusterBits;
    private const int ClusterBits = 16;
    private const int L2EntriesPerTable = ClusterSize / 8;
    private const int RefcountsPerBlock = ClusterSize / 2;
    private const ulong CopiedFlag = 1UL << 63; // refcount is exactly 1: the cluster may be written in place

    /// <summary>
    /// Reads <paramref name="raw"/> twice (once to find non-zero clusters, once to copy them), so it
    /// must be seekable; writes the qcow2 image sequentially to <paramref name="output"/>.
    /// The virtual size is the raw stream's length.
    /// </summary>
    public static async Task WriteAsync(Stream raw, Stream output, CancellationToken cancellationToken = default)
    {
        if (!raw.CanSeek)
        {
            throw new ArgumentException("The raw image must be seekable: it is scanned for zero clusters before it is copied.", nameof(raw));
        }
        long virtualSize = raw.Length;
        long guestClusters = (virtualSize + ClusterSize - 1) / ClusterSize;
        var buffer = new byte[ClusterSize];
        var allocated = new List<long>();
        raw.Position = 0;
        for (long cluster = 0; cluster < guestClusters; cluster++)
        {
            int length = await ReadClusterAsync(raw, buffer, cancellationToken);
            if (buffer.AsSpan(0, length).IndexOfAnyExcept((byte)0) >= 0)
            {
                allocated.Add(cluster);
            }
        }

        int l1Size = (int)((guestClusters + L2EntriesPerTable - 1) / L2EntriesPerTable);
        long l1Clusters = Math.Max(1, ((long)l1Size * 8 + ClusterSize - 1) / ClusterSize);
        var l2Tables = allocated.Select(c => c / L2EntriesPerTable).Distinct().ToList();
        long refcountTableClusters = 1, refcountBlocks = 1;
        long totalClusters;
        while (true)
        {
            totalClusters = 1 + refcountTableClusters + refcountBlocks + l1Clusters + l2Tables.Count + allocated.Count;
            long neededBlocks = (totalClusters + RefcountsPerBlock - 1) / RefcountsPerBlock;
            long neededTable = Math.Max(1, (neededBlocks * 8 + ClusterSize - 1) / ClusterSize);
            if (neededBlocks == refcountBlocks && neededTable == refcountTableClusters)
            {
                break;
            }
            (refcountBlocks, refcountTableClusters) = (neededBlocks, neededTable);
        }

        long refcountTableOffset = ClusterSize;
        long refcountBlocksOffset = refcountTableOffset + refcountTableClusters * ClusterSize;
        long l1Offset = refcountBlocksOffset + refcountBlocks * ClusterSize;
        long l2Offset = l1Offset + l1Clusters * ClusterSize;
        long dataOffset = l2Offset + (long)l2Tables.Count * ClusterSize;

        var header = new Qcow2Header(3, ClusterBits, virtualSize, l1Size, l1Offset, refcountTableOffset, (int)refcountTableClusters, 0, 0, 0);
        await WritePaddedAsync(output, header.Encode(), ClusterSize, cancellationToken);

        var refcountTable = new byte[refcountTableClusters * ClusterSize];
        for (long i = 0; i < refcountBlocks; i++)
        {
            BinaryPrimitives.WriteInt64BigEndian(refcountTable.AsSpan((int)(i * 8)), refcountBlocksOffset + i * ClusterSize);
        }
        await output.WriteAsync(refcountTable, cancellationToken);
        for (long block = 0; block < refcountBlocks; block++)
        {
            var refcounts = new byte[ClusterSize];
            long first = block * RefcountsPerBlock;
            for (long cluster = first; cluster < Math.Min(totalClusters, first + RefcountsPerBlock); cluster++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(refcounts.AsSpan((int)(cluster - first) * 2), 1);
            }
            await output.WriteAsync(refcounts, cancellationToken);
        }

        var l1 = new byte[l1Clusters * ClusterSize];
        for (int i = 0; i < l2Tables.Count; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(l1.AsSpan((int)(l2Tables[i] * 8)), (ulong)(l2Offset + (long)i * ClusterSize) | CopiedFlag);
        }
        await output.WriteAsync(l1, cancellationToken);

        int dataIndex = 0;
        foreach (long table in l2Tables)
        {
            var l2 = new byte[ClusterSize];
            while (dataIndex < allocated.Count && allocated[dataIndex] / L2EntriesPerTable == table)
            {
                int slot = (int)(allocated[dataIndex] % L2EntriesPerTable);
                BinaryPrimitives.WriteUInt64BigEndian(l2.AsSpan(slot * 8), (ulong)(dataOffset + (long)dataIndex * ClusterSize) | CopiedFlag);
                dataIndex++;
            }
            await output.WriteAsync(l2, cancellationToken);
        }

        foreach (long cluster in allocated)
        {
            raw.Position = cluster * ClusterSize;
            int length = await ReadClusterAsync(raw, buffer, cancellationToken);
            buffer.AsSpan(length).Clear(); // the last cluster of an odd-sized disk is zero-padded
            await output.WriteAsync(buffer, cancellationToken);
        }
        await output.FlushAsync(cancellationToken);
    }

    private static async Task<int> ReadClusterAsync(Stream raw, byte[] buffer, CancellationToken cancellationToken) =>
        await raw.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);

    private static async Task WritePaddedAsync(Stream output, byte[] data, int size, CancellationToken cancellationToken)
    {
        var padded = new byte[size];
        data.CopyTo(padded, 0);
        await output.WriteAsync(padded, cancellationToken);
    }
}
