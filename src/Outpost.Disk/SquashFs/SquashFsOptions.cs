namespace Outpost.Disk.SquashFs;

/// <summary>Image-wide settings for <see cref="SquashFsWriter"/>.</summary>
/// <param name="ModificationTime">Superblock time and the time of implicit directories (Unix seconds, e.g. SOURCE_DATE_EPOCH).</param>
public sealed record SquashFsOptions(uint ModificationTime)
{
    /// <summary>Data block size: a power of two from 4 KiB to 1 MiB. 128 KiB is mksquashfs's default.</summary>
    public int BlockSize { get; init; } = 128 * 1024;
}
