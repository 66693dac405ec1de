namespace Outpost.Image.Rootfs;

public enum FsEntryType
{
    File,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// <summary>
/// One file system object held in memory while the rootfs is composed. Content is shared, never copied,
/// when the same file lands in several places (hard links, re-grafted images).
/// </summary>
public sealed record FsEntry
{
    public required FsEntryType Type { get; init; }

    /// <summary>Permission bits including setuid/setgid/sticky (07777); the type is in <see cref="Type"/>.</summary>
    public int Mode { get; init; }
    public int Uid { get; init; }
    public int Gid { get; init; }

    /// <summary>Modification time in seconds since the Unix epoch.</summary>
    public long MTime { get; init; }
    public string? LinkTarget { get; init; }
    public ReadOnlyMemory<byte> Content { get; init; }
    public int DevMajor { get; init; }
    public int DevMinor { get; init; }

    /// <summary>Which image (or "outpost") this entry came from; written as linuxkit's PAX record.</summary>
    public string? Source { get; init; }

    /// <summary>Which YAML section placed it (e.g. <c>onboot[2]</c>); linuxkit's other PAX record.</summary>
    public string? Location { get; init; }

    public static FsEntry Directory(long mtime, int mode = 0b111_101_101) => new() { Type = FsEntryType.Directory, Mode = mode, MTime = mtime };

    public static FsEntry File(ReadOnlyMemory<byte> content, long mtime, int mode = 0b110_100_100) =>
        new() { Type = FsEntryType.File, Mode = mode, MTime = mtime, Content = content };

    public static FsEntry Symlink(string target, long mtime) =>
        new() { Type = FsEntryType.Symlink, Mode = 0b111_111_111, MTime = mtime, LinkTarget = target };
}
