using System.Buffers.Binary;

namespace Outpost.Disk.Fat;

/// <summary>The file allocation table in memory, packed for FAT12, FAT16 or FAT32.</summary>
internal sealed class FatTable(FatGeometry geometry)
{
    public byte[] Bytes { get; } = CreateWithReservedEntries(geometry);

    public uint EndOfChain => geometry.Type switch
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

    public void Set(uint cluster, uint value)
    {
        switch (geometry.Type)
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
                BinaryPrimitives.WriteUInt32LittleEndian(Bytes.AsSpan((int)cluster * 4), value & 0x0FFFFFFF);
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
