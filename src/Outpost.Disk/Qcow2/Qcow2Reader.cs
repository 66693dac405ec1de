using System.Buffers.Binary;

namespace Outpost.Disk.Qcow2;

/// <summary>
/// Expands a qcow2 image (version 2 or 3, no backing file, no encryption, no compressed clusters)
/// back to a raw disk image. Meant for tests and inspection, not as a general qcow2 driver.
/// </summary>
public static class Qcow2Reader
{
    private const ulong OffsetMask = 0x00FFFFFFFFFFFE00;
    private const ulong CompressedFlag = 1UL << 62;
    private const ulong ReadsAsZeroFlag = 1UL;

    /// <summary>Returns the virtual disk size recorded in the header.</summary>
    public static long ReadVirtualSize(Stream qcow2)
    {
        var bytes = new byte[Qcow2Header.Version3Length];
        qcow2.Position = 0;
        qcow2.ReadExactly(bytes);
        return Qcow2Header.Decode(bytes).VirtualSize;
    }

    /// <summary>Writes the full virtual disk (unallocated clusters as zeros) to <paramref name="raw"/>.</summary>
    /// <exception cref="Qcow2FormatException">The image is invalid or uses an unsupported feature.</exception>
    public static async Task ConvertToRawAsync(Stream qcow2, Stream raw, CancellationToken cancellationToken = default)
    {
        var headerBytes = new byte[Qcow2Header.Version3Length];
        qcow2.Position = 0;
        await qcow2.ReadExactlyAsync(headerBytes, cancellationToken);
        var header = Qcow2Header.Decode(headerBytes);
        if (header.BackingFileOffset != 0 || header.CryptMethod != 0 || header.IncompatibleFeatures != 0)
        {
            throw new Qcow2FormatException("This qcow2 image uses a backing file, encryption or incompatible features; flatten it with 'qemu-img convert -O qcow2' first.");
        }
        if (header.ClusterBits is < 9 or > 21)
        {
            throw new Qcow2FormatException($"Cluster size 2^{header.ClusterBits} is invalid.");
        }
        int clusterSize = header.ClusterSize;
        int l2Entries = clusterSize / 8;
        var l1 = new byte[header.L1Size * 8];
        qcow2.Position = header.L1TableOffset;
        await qcow2.ReadExactlyAsync(l1, cancellationToken);

        var l2 = new byte[clusterSize];
        var cluster = new byte[clusterSize];
        long loadedL2 = -1;
        long remaining = header.VirtualSize;
        for (long guest = 0; remaining > 0; guest++)
        {
            int length = (int)Math.Min(clusterSize, remaining);
            ulong l1Entry = BinaryPrimitives.ReadUInt64BigEndian(l1.AsSpan((int)(guest / l2Entries * 8)));
            long l2Offset = (long)(l1Entry & OffsetMask);
            Array.Clear(cluster);
            if (l2Offset != 0)
            {
                if (l2Offset != loadedL2)
                {
                    qcow2.Position = l2Offset;
                    await qcow2.ReadExactlyAsync(l2, cancellationToken);
                    loadedL2 = l2Offset;
                }
                ulong l2Entry = BinaryPrimitives.ReadUInt64BigEndian(l2.AsSpan((int)(guest % l2Entries * 8)));
                if ((l2Entry & CompressedFlag) != 0)
                {
                    throw new Qcow2FormatException("The image has compressed clusters, which this reader does not support; convert without -c.");
                }
                long dataOffset = (long)(l2Entry & OffsetMask);
                if (dataOffset != 0 && (l2Entry & ReadsAsZeroFlag) == 0)
                {
                    qcow2.Position = dataOffset;
                    await qcow2.ReadExactlyAsync(cluster.AsMemory(0, length), cancellationToken);
                }
            }
            await raw.WriteAsync(cluster.AsMemory(0, length), cancellationToken);
            remaining -= length;
        }
        await raw.FlushAsync(cancellationToken);
    }
}
