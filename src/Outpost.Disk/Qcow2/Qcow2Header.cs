using System.Buffers.Binary;

namespace Outpost.Disk.Qcow2;

/// <summary>The fields of the qcow2 header this library writes and reads (all big-endian on disk).</summary>
internal sealed record Qcow2Header(
    uint Version,
    int ClusterBits,
    long VirtualSize,
    int L1Size,
    long L1TableOffset,
    long RefcountTableOffset,
    int RefcountTableClusters,
    ulong IncompatibleFeatures,
    long BackingFileOffset,
    uint CryptMethod)
{
    public const uint Magic = 0x514649FB; // "QFI\xfb"
    public const int Version3Length = 104;
    private const int RefcountOrder16Bit = 4;

    public int ClusterSize => 1 << ClusterBits;

    public byte[] Encode()
    {
        var header = new byte[Version3Length + 8]; // plus the end-of-extensions marker (type 0, length 0)
        var h = header.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(h, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(h[4..], 3);
        BinaryPrimitives.WriteUInt32BigEndian(h[20..], (uint)ClusterBits);
        BinaryPrimitives.WriteInt64BigEndian(h[24..], VirtualSize);
        BinaryPrimitives.WriteUInt32BigEndian(h[36..], (uint)L1Size);
        BinaryPrimitives.WriteInt64BigEndian(h[40..], L1TableOffset);
        BinaryPrimitives.WriteInt64BigEndian(h[48..], RefcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(h[56..], (uint)RefcountTableClusters);
        BinaryPrimitives.WriteUInt32BigEndian(h[96..], RefcountOrder16Bit);
        BinaryPrimitives.WriteUInt32BigEndian(h[100..], Version3Length);
        return header;
    }

    public static Qcow2Header Decode(ReadOnlySpan<byte> h)
    {
        if (BinaryPrimitives.ReadUInt32BigEndian(h) != Magic)
        {
            throw new Qcow2FormatException("Not a qcow2 image: the magic 'QFI\\xfb' is missing.");
        }
        uint version = BinaryPrimitives.ReadUInt32BigEndian(h[4..]);
        if (version is not (2 or 3))
        {
            throw new Qcow2FormatException($"qcow2 version {version} is not supported; convert to version 3 with qemu-img.");
        }
        return new Qcow2Header(
            version,
            (int)BinaryPrimitives.ReadUInt32BigEndian(h[20..]),
            BinaryPrimitives.ReadInt64BigEndian(h[24..]),
            (int)BinaryPrimitives.ReadUInt32BigEndian(h[36..]),
            BinaryPrimitives.ReadInt64BigEndian(h[40..]),
            BinaryPrimitives.ReadInt64BigEndian(h[48..]),
            (int)BinaryPrimitives.ReadUInt32BigEndian(h[56..]),
            version == 3 ? BinaryPrimitives.ReadUInt64BigEndian(h[72..]) : 0,
            BinaryPrimitives.ReadInt64BigEndian(h[8..]),
            BinaryPrimitives.ReadUInt32BigEndian(h[32..]));
    }
}
