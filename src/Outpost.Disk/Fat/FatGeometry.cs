namespace Outpost.Disk.Fat;

/// <summary>Sizes and positions of a FAT volume's regions, chosen from the volume size.</summary>
internal sealed record FatGeometry(
    FatType Type,
    long TotalSectors,
    int SectorsPerCluster,
    int ReservedSectors,
    int FatSectors,
    int RootEntries,
    long ClusterCount)
{
    public const int SectorSize = 512;
    public const int FatCount = 2;
    private const long MinFat16Clusters = 4085;
    private const long MinFat32Clusters = 65525;
    private const long MaxFat32Clusters = 0x0FFFFFF5 - 2;
    // mkfs.fat's default for small FAT12/16 volumes.
    private const int SmallVolumeSectorsPerCluster = 4;

    public int ClusterSize => SectorsPerCluster * SectorSize;
    public int RootDirSectors => RootEntries * 32 / SectorSize;
    public long FirstFatSector => ReservedSectors;
    public long RootDirSector => ReservedSectors + (long)FatCount * FatSectors;
    public long DataStartSector => RootDirSector + RootDirSectors;

    public static FatGeometry Choose(long sizeBytes, FatType? forced)
    {
        if (sizeBytes % SectorSize != 0 || sizeBytes < 64 * 1024)
        {
            throw new FatLayoutException($"FAT volume size {sizeBytes} must be a multiple of {SectorSize} and at least 64 KiB.");
        }
        long sectors = sizeBytes / SectorSize;
        var type = forced ?? AutomaticType(sectors);
        return type switch
        {
            FatType.Fat32 => Fat32(sectors),
            _ => Small(sectors, type),
        };
    }

    private static FatType AutomaticType(long sectors)
    {
        if (Compute(FatType.Fat32, sectors, 1).ClusterCount >= MinFat32Clusters)
        {
            return FatType.Fat32;
        }
        return Compute(FatType.Fat12, sectors, SmallVolumeSectorsPerCluster).ClusterCount < MinFat16Clusters
            ? FatType.Fat12 : FatType.Fat16;
    }

    private static FatGeometry Fat32(long sectors)
    {
        // Microsoft's FAT32 cluster-size table (by volume size).
        long bytes = sectors * SectorSize;
        int sectorsPerCluster = bytes switch
        {
            <= 260L << 20 => 1,
            <= 8L << 30 => 8,
            <= 16L << 30 => 16,
            <= 32L << 30 => 32,
            _ => 64,
        };
        var geometry = Compute(FatType.Fat32, sectors, sectorsPerCluster);
        if (geometry.ClusterCount < MinFat32Clusters || geometry.ClusterCount > MaxFat32Clusters)
        {
            throw new FatLayoutException($"A {bytes}-byte volume cannot be FAT32 (it would have {geometry.ClusterCount} clusters, FAT32 needs at least {MinFat32Clusters}); make it at least 33 MiB or use FAT16.");
        }
        return geometry;
    }

    private static FatGeometry Small(long sectors, FatType type)
    {
        long maxClusters = type == FatType.Fat12 ? MinFat16Clusters - 1 : MinFat32Clusters - 1;
        for (int sectorsPerCluster = SmallVolumeSectorsPerCluster; sectorsPerCluster <= 128; sectorsPerCluster *= 2)
        {
            var geometry = Compute(type, sectors, sectorsPerCluster);
            if (geometry.ClusterCount <= maxClusters)
            {
                if (type == FatType.Fat16 && geometry.ClusterCount < MinFat16Clusters)
                {
                    break;
                }
                return geometry;
            }
        }
        throw new FatLayoutException($"A {sectors * SectorSize}-byte volume does not fit {type}'s cluster-count limits; let the writer choose the type.");
    }

    private static FatGeometry Compute(FatType type, long sectors, int sectorsPerCluster)
    {
        int reserved = type == FatType.Fat32 ? 32 : 4;
        int rootEntries = type == FatType.Fat32 ? 0 : 512;
        long available = sectors - reserved - rootEntries * 32 / SectorSize;
        // Size the FAT for the upper bound of clusters; the real count is then a little smaller,
        // which leaves a few unused FAT entries (allowed, and what mkfs.fat does too).
        long estimate = available / sectorsPerCluster + 2;
        long fatBytes = FatTable.BytesFor(type, estimate);
        int fatSectors = (int)((fatBytes + SectorSize - 1) / SectorSize);
        long clusters = Math.Max(0, (available - FatCount * (long)fatSectors) / sectorsPerCluster);
        return new FatGeometry(type, sectors, sectorsPerCluster, reserved, fatSectors, rootEntries, clusters);
    }
}
