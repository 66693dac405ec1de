using System.Buffers.Binary;
using System.Text;

namespace Outpost.Disk.Fat;

/// <summary>Encodes the boot sector (BPB) and, for FAT32, the FSInfo sector.</summary>
internal static class FatBootSector
{
    public static byte[] Encode(FatGeometry g, FatVolumeOptions options, byte[] label11)
    {
        var sector = new byte[FatGeometry.SectorSize];
        var s = sector.AsSpan();
        bool fat32 = g.Type == FatType.Fat32;
        s[0] = 0xEB; s[1] = fat32 ? (byte)0x58 : (byte)0x3C; s[2] = 0x90;
        Encoding.ASCII.GetBytes("OUTPOST ", s[3..11]);
        BinaryPrimitives.WriteUInt16LittleEndian(s[11..], FatGeometry.SectorSize);
        s[13] = (byte)g.SectorsPerCluster;
        BinaryPrimitives.WriteUInt16LittleEndian(s[14..], (ushort)g.ReservedSectors);
        s[16] = FatGeometry.FatCount;
        BinaryPrimitives.WriteUInt16LittleEndian(s[17..], (ushort)g.RootEntries);
        bool smallCount = !fat32 && g.TotalSectors < 0x10000;
        BinaryPrimitives.WriteUInt16LittleEndian(s[19..], smallCount ? (ushort)g.TotalSectors : (ushort)0);
        s[21] = 0xF8;
        BinaryPrimitives.WriteUInt16LittleEndian(s[22..], fat32 ? (ushort)0 : (ushort)g.FatSectors);
        BinaryPrimitives.WriteUInt16LittleEndian(s[24..], 32); // sectors per track: nominal, unused by LBA readers
        BinaryPrimitives.WriteUInt16LittleEndian(s[26..], 64); // heads: nominal
        BinaryPrimitives.WriteUInt32LittleEndian(s[28..], options.HiddenSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(s[32..], smallCount ? 0u : (uint)g.TotalSectors);
        int extended = 36;
        if (fat32)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[36..], (uint)g.FatSectors);
            BinaryPrimitives.WriteUInt32LittleEndian(s[44..], 2); // root directory cluster
            BinaryPrimitives.WriteUInt16LittleEndian(s[48..], 1); // FSInfo sector
            BinaryPrimitives.WriteUInt16LittleEndian(s[50..], 6); // backup boot sector
            extended = 64;
        }
        s[extended] = 0x80;     // drive number
        s[extended + 2] = 0x29; // extended boot signature: volume id, label and type follow
        BinaryPrimitives.WriteUInt32LittleEndian(s[(extended + 3)..], options.VolumeId);
        label11.CopyTo(s[(extended + 7)..]);
        Encoding.ASCII.GetBytes(fat32 ? "FAT32   " : g.Type == FatType.Fat16 ? "FAT16   " : "FAT12   ", s[(extended + 18)..]);
        s[510] = 0x55; s[511] = 0xAA;
        return sector;
    }

    public static byte[] EncodeFsInfo(long freeClusters, uint nextFreeCluster)
    {
        var sector = new byte[FatGeometry.SectorSize];
        var s = sector.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, 0x41615252);
        BinaryPrimitives.WriteUInt32LittleEndian(s[484..], 0x61417272);
        BinaryPrimitives.WriteUInt32LittleEndian(s[488..], (uint)freeClusters);
        BinaryPrimitives.WriteUInt32LittleEndian(s[492..], nextFreeCluster);
        BinaryPrimitives.WriteUInt32LittleEndian(s[508..], 0xAA550000);
        return sector;
    }
}
