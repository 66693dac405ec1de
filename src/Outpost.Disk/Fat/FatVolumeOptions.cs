namespace Outpost.Disk.Fat;

/// <summary>FAT variant.</summary>
public enum FatType
{
    Fat12 = 12,
    Fat16 = 16,
    Fat32 = 32,
}

/// <summary>Parameters of a FAT volume. Everything that would otherwise be random or clock-based is explicit.</summary>
/// <param name="SizeBytes">Exact size of the volume (a multiple of 512), usually the partition size.</param>
/// <param name="Label">Volume label, up to 11 characters (uppercased on disk), e.g. "EVE".</param>
/// <param name="Timestamp">Time stamped on every entry (DOS resolution: 2 seconds, years 1980-2107).</param>
/// <param name="VolumeId">The 32-bit volume serial number (blkid's UUID); derive it from content for reproducibility.</param>
public sealed record FatVolumeOptions(long SizeBytes, string Label, DateTime Timestamp, uint VolumeId)
{
    /// <summary>
    /// Forces a FAT type. When null the writer picks FAT32 if the volume can hold at least 65525
    /// clusters of 512 bytes (about 33 MiB and up, what UEFI firmware prefers for an ESP), and
    /// otherwise does what mkfs.fat does for small volumes: 2 KiB clusters, FAT12 below 4085
    /// clusters, FAT16 above.
    /// </summary>
    public FatType? Type { get; init; }

    /// <summary>
    /// Sectors before this volume on its disk (the partition's first LBA), stored in the boot
    /// sector for firmware that needs it; 0 for a standalone image as mkfs.fat writes on files.
    /// </summary>
    public uint HiddenSectors { get; init; }
}
