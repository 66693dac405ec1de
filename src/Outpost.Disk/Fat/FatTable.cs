using System.Buffers.Binary;

namespace Outpost.Disk.Fat;

/// <summary>The file allocation table in memory, packed for FAT12, FAT16 or FAT32.</summary>
internal sealed class FatTable
{
    private readonly FatType _type;

    /// <summary>A new, empty table for a volume being built.</summary>
    public FatTable(FatGeometry geometry) : this(geometry.Type, CreateWithReservedEntries(geometry))
    {
    }

    private FatTable(FatType type, byte[] bytes)
    {
        _type = type;
        Bytes = bytes;
    }

    /// <summary>Wraps the bytes of an existing table (read from a volume); the caller keeps cluster numbers in range.</summary>
    public static FatTable Wrap(FatType type, byte[] bytes) => new(type, bytes);

    /// <summary>Bytes needed to hold entries 0 to <paramref name="entries"/> - 1.</summary>
    public static long BytesFor(FatType type, long entries) => type switch
    {
        FatType.Fat12 => (entries * 3 + 1) / 2,
        FatType.Fat16 => entries * 2,
        _ => entries * 4,
    };

    public byte[] Bytes { get; }

    public uint EndOfChain => _type switch
    {
        FatType.Fat12 => 0xFFF,
        FatType.Fat16 => 0xFFFF,
        _ => 0x0FFFFFFF,
    };

    /// <summary>Links <paramref name="count"/> clusters starting at <paramref name="first"/> into one chain.</summary>
    public void SetChain(uint first, long count)
    {
        for (long i = 0; i < count; i++)
        {
            uint cluster = (uint)(first + i);
            Set(cluster, i == count - 1 ? EndOfChain : cluster + 1);
        }
    }

    /// <summary>Where the entry of <paramref name="cluster"/> lies in <see cref="Bytes"/> (a FAT12 entry shares its bytes with a neighbour).</summary>
    public (int Offset, int Count) Location(uint cluster) => _type switch
    {
        FatType.Fat12 => ((int)(cluster + cluster / 2), 2),
        FatType.Fat16 => ((int)cluster * 2, 2),
        _ => ((int)cluster * 4, 4),
    };

    public uint Get(uint cluster)
    {
        switch (_type)
        {
            case FatType.Fat12:
                ushort pair = BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan((int)(cluster + cluster / 2)));
                return (cluster & 1) == 0 ? (uint)(pair & 0xFFF) : (uint)(pair >> 4);
            case FatType.Fat16:
                return BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan((int)cluster * 2));
            default:
                return BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan((int)cluster * 4)) & 0x0FFFFFFF;
        }
    }

    public void Set(uint cluster, uint value)
    {
        switch (_type)
        {
            case FatType.Fat12:
                int offset = (int)(cluster + cluster / 2);
                ushort pair = BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(offset));
                pair = (cluster & 1) == 0
                    ? (ushort)((pair & 0xF000u) | (value & 0xFFFu))
                    : (ushort)((pair & 0x000Fu) | ((value & 0xFFFu) << 4));
                BinaryPrimitives.WriteUInt16LittleEndian(Bytes.AsSpan(offset), pair);
                break;
            case FatType.Fat16:
                BinaryPrimitives.WriteUInt16LittleEndian(Bytes.AsSpan((int)cluster * 2), (ushort)value);
                break;
            default:
                // The top 4 bits of a FAT32 entry are reserved: keep what is there.
                var entry = Bytes.AsSpan((int)cluster * 4);
                uint reserved = BinaryPrimitives.ReadUInt32LittleEndian(entry) & 0xF0000000;
                BinaryPrimitives.WriteUInt32LittleEndian(entry, reserved | (value & 0x0FFFFFFF));
                break;
        }
    }

    private static byte[] CreateWithReservedEntries(FatGeometry geometry)
    {
        var bytes = new byte[geometry.FatSectors * FatGeometry.SectorSize];
        var table = bytes.AsSpan();
        // Entry 0 holds the media byte (0xF8, fixed disk), entry 1 an end-of-chain marker.
        switch (geometry.Type)
        {
            case FatType.Fat12:
                table[0] = 0xF8; table[1] = 0xFF; table[2] = 0xFF;
                break;
            case FatType.Fat16:
                BinaryPrimitives.WriteUInt32LittleEndian(table, 0xFFFFFFF8);
                break;
            default:
                BinaryPrimitives.WriteUInt32LittleEndian(table, 0x0FFFFFF8);
                BinaryPrimitives.WriteUInt32LittleEndian(table[4..], 0x0FFFFFFF);
                break;
        }
        return bytes;
    }
}
