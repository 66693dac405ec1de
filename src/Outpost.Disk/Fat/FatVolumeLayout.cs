using System.Buffers.Binary;
using System.Text;

namespace Outpost.Disk.Fat;

/// <summary>
/// Where the regions of an existing FAT volume lie, parsed from its boot sector (BPB) and checked so that every
/// offset derived from it stays inside the volume. Shared by <see cref="FatVolumeReader"/> and <see cref="FatVolumeEditor"/>.
/// </summary>
internal sealed record FatVolumeLayout(
    FatType Type,
    int SectorSize,
    int ClusterSize,
    long FatOffset,
    long FatBytes,
    int FatCount,
    long RootOffset,
    int RootEntries,
    uint RootCluster,
    long DataOffset,
    long ClusterCount,
    long TotalBytes,
    int FsInfoSector,
    string Label)
{
    public const int BootSectorSize = 512;
    private const long MaxFat32Clusters = 0x0FFFFFF5 - 2;

    /// <summary>The highest valid cluster number (clusters are numbered from 2).</summary>
    public uint MaxCluster => (uint)(ClusterCount + 1);

    /// <summary>FAT values at or above this end a chain.</summary>
    public uint EndOfChainMinimum => Type switch
    {
        FatType.Fat12 => 0xFF8,
        FatType.Fat16 => 0xFFF8,
        _ => 0x0FFFFFF8,
    };

    /// <summary>Bytes of each FAT copy that hold entries 0 to <see cref="MaxCluster"/>, rounded up to whole sectors.</summary>
    public int UsedFatBytes => (int)((FatTable.BytesFor(Type, ClusterCount + 2) + SectorSize - 1) / SectorSize * SectorSize);

    public long ClusterOffset(uint cluster) => DataOffset + (cluster - 2L) * ClusterSize;

    /// <summary>Parses the boot sector. <paramref name="volumeLength"/>, when known, must hold the whole volume.</summary>
    /// <exception cref="FatLayoutException">This is not a FAT volume or its BPB is inconsistent.</exception>
    public static FatVolumeLayout Parse(ReadOnlySpan<byte> boot, long? volumeLength)
    {
        int sectorSize = BinaryPrimitives.ReadUInt16LittleEndian(boot[11..]);
        int sectorsPerCluster = boot[13];
        if (boot[510] != 0x55 || boot[511] != 0xAA || sectorSize is not (512 or 1024 or 2048 or 4096)
            || sectorsPerCluster == 0 || (sectorsPerCluster & (sectorsPerCluster - 1)) != 0)
        {
            throw new FatLayoutException("This is not a FAT volume: the boot sector signature or BPB is missing.");
        }
        int reserved = BinaryPrimitives.ReadUInt16LittleEndian(boot[14..]);
        int fatCount = boot[16];
        int rootEntries = BinaryPrimitives.ReadUInt16LittleEndian(boot[17..]);
        long totalSectors = BinaryPrimitives.ReadUInt16LittleEndian(boot[19..]) is var small and > 0 ? small : BinaryPrimitives.ReadUInt32LittleEndian(boot[32..]);
        int fatSectors16 = BinaryPrimitives.ReadUInt16LittleEndian(boot[22..]);
        // Like Linux: a zero 16-bit FAT size means FAT32 (whose FAT size is at offset 36).
        bool fat32 = fatSectors16 == 0;
        long fatSectors = fat32 ? BinaryPrimitives.ReadUInt32LittleEndian(boot[36..]) : fatSectors16;
        if (reserved == 0 || fatCount == 0 || fatSectors == 0 || totalSectors == 0 || fat32 != (rootEntries == 0))
        {
            throw Damaged("the BPB has no reserved sectors, no FAT, or a root directory that does not match the FAT type");
        }

        long fatOffset = (long)reserved * sectorSize;
        long fatBytes = fatSectors * sectorSize;
        long rootOffset = fatOffset + fatCount * fatBytes;
        long rootSectors = (rootEntries * 32L + sectorSize - 1) / sectorSize;
        long dataOffset = rootOffset + rootSectors * sectorSize;
        long totalBytes = totalSectors * sectorSize;
        int clusterSize = sectorsPerCluster * sectorSize;
        if (dataOffset >= totalBytes)
        {
            throw Damaged($"its FATs and root directory end at byte {dataOffset}, past the volume's {totalBytes} bytes");
        }
        if (volumeLength is { } length && length < totalBytes)
        {
            throw new FatLayoutException($"The FAT volume says it is {totalBytes} bytes but the stream holding it has only {length}; give the whole partition.");
        }
        long clusters = (totalBytes - dataOffset) / clusterSize;
        var type = fat32 ? FatType.Fat32 : clusters < 4085 ? FatType.Fat12 : FatType.Fat16;
        // Like Linux: clusters the FAT has no entry for do not exist.
        long fatEntries = type switch
        {
            FatType.Fat12 => fatBytes * 2 / 3,
            FatType.Fat16 => fatBytes / 2,
            _ => fatBytes / 4,
        };
        clusters = Math.Min(clusters, fatEntries - 2);
        if (clusters < 1 || (fat32 && clusters > MaxFat32Clusters))
        {
            throw Damaged($"it would have {clusters} clusters");
        }
        uint rootCluster = fat32 ? BinaryPrimitives.ReadUInt32LittleEndian(boot[44..]) : 0;
        if (fat32 && (rootCluster < 2 || rootCluster > clusters + 1))
        {
            throw Damaged($"the root directory starts at cluster {rootCluster}, outside the volume's clusters");
        }
        int fsInfoSector = fat32 ? BinaryPrimitives.ReadUInt16LittleEndian(boot[48..]) : 0;
        string label = Encoding.ASCII.GetString(boot.Slice(fat32 ? 71 : 43, 11)).TrimEnd();
        return new FatVolumeLayout(type, sectorSize, clusterSize, fatOffset, fatBytes, fatCount, rootOffset, rootEntries,
            rootCluster, dataOffset, clusters, totalBytes, fsInfoSector is > 0 and < 0xFFFF && fsInfoSector < reserved ? fsInfoSector : 0, label);
    }

    private static FatLayoutException Damaged(string why) =>
        new($"The FAT volume's boot sector is damaged: {why}. Check it with fsck.fat.");
}
