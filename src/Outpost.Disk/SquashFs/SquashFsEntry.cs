namespace Outpost.Disk.SquashFs;

/// <summary>Kind of filesystem object in a squashfs image.</summary>
public enum SquashFsEntryType
{
    Directory,
    File,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>
/// One object to put in a squashfs image. Parent directories that are not given explicitly are
/// created with mode 0755, owner 0:0 and the image's modification time.
/// Use the static factories for the common cases.
/// </summary>
/// <param name="Path">Slash-separated path inside the image ("" or "/" for the root directory).</param>
/// <param name="Type">Object kind.</param>
/// <param name="Mode">Permission bits including setuid/setgid/sticky (0-07777); the type bits are implied by <paramref name="Type"/>.</param>
/// <param name="Uid">Owner user id.</param>
/// <param name="Gid">Owner group id.</param>
/// <param name="ModificationTime">Seconds since the Unix epoch.</param>
public sealed record SquashFsEntry(string Path, SquashFsEntryType Type, int Mode, uint Uid, uint Gid, uint ModificationTime)
{
    /// <summary>For files: opens the content; called once, and the stream is read to its end and disposed.</summary>
    public Func<Stream>? OpenContent { get; init; }

    /// <summary>For symlinks: the target, stored as given.</summary>
    public string? LinkTarget { get; init; }

    /// <summary>For character and block devices.</summary>
    public uint DeviceMajor { get; init; }

    /// <summary>For character and block devices.</summary>
    public uint DeviceMinor { get; init; }

    public static SquashFsEntry Directory(string path, int mode = 0b111_101_101, uint uid = 0, uint gid = 0, uint modificationTime = 0) =>
        new(path, SquashFsEntryType.Directory, mode, uid, gid, modificationTime);

    public static SquashFsEntry File(string path, Func<Stream> openContent, int mode = 0b110_100_100, uint uid = 0, uint gid = 0, uint modificationTime = 0) =>
        new(path, SquashFsEntryType.File, mode, uid, gid, modificationTime) { OpenContent = openContent };

    public static SquashFsEntry File(string path, byte[] content, int mode = 0b110_100_100, uint uid = 0, uint gid = 0, uint modificationTime = 0) =>
        File(path, () => new MemoryStream(content, writable: false), mode, uid, gid, modificationTime);

    public static SquashFsEntry Symlink(string path, string target, uint uid = 0, uint gid = 0, uint modificationTime = 0) =>
        new(path, SquashFsEntryType.Symlink, 0b111_111_111, uid, gid, modificationTime) { LinkTarget = target };

    public static SquashFsEntry Device(string path, SquashFsEntryType type, uint major, uint minor, int mode = 0b110_110_110, uint uid = 0, uint gid = 0, uint modificationTime = 0) =>
        new(path, type, mode, uid, gid, modificationTime) { DeviceMajor = major, DeviceMinor = minor };
}
