namespace Outpost.Disk.Gpt;

/// <summary>
/// A whole GPT disk: its size, disk GUID and partitions. Sector size is always 512 bytes and the
/// entry array always has 128 entries of 128 bytes (33 sectors with the header), as EVE and
/// sgdisk use by default.
/// </summary>
/// <param name="DiskSizeBytes">Total disk size; must be a multiple of 512.</param>
/// <param name="DiskGuid">The disk GUID stored in both headers.</param>
/// <param name="Partitions">Partitions, in any order; numbers must be unique.</param>
public sealed record GptLayout(long DiskSizeBytes, Guid DiskGuid, IReadOnlyList<GptPartition> Partitions)
{
    /// <summary>Logical sector size used for every LBA in this library.</summary>
    public const int SectorSize = 512;

    /// <summary>Number of entries in the partition entry array.</summary>
    public const int EntryCount = 128;

    /// <summary>Size of one partition entry in bytes.</summary>
    public const int EntrySize = 128;

    /// <summary>Sectors taken by the entry array (128 × 128 bytes / 512).</summary>
    public const int EntryArraySectors = EntryCount * EntrySize / SectorSize;

    /// <summary>First sector a partition may use (after MBR, header and entry array).</summary>
    public const long FirstUsableLba = 2 + EntryArraySectors;

    /// <summary>Index of the last sector of the disk, where the backup header lives.</summary>
    public long LastLba => DiskSizeBytes / SectorSize - 1;

    /// <summary>Last sector a partition may use (before the backup entry array).</summary>
    public long LastUsableLba => LastLba - EntryArraySectors - 1;

    /// <summary>The partition with this number, or null.</summary>
    public GptPartition? Find(int number) => Partitions.FirstOrDefault(p => p.Number == number);

    /// <summary>The first partition with this name (EVE finds partitions by name), or null.</summary>
    public GptPartition? FindByName(string name) =>
        Partitions.OrderBy(p => p.Number).FirstOrDefault(p => p.Name == name);
}
