namespace Outpost.Agent.Reporting.Proc;

/// <summary>Size of the file system holding a path (statvfs through DriveInfo), in bytes.</summary>
public sealed record FileSystemUsage(ulong TotalBytes, ulong FreeBytes)
{
    public ulong UsedBytes => TotalBytes - Math.Min(TotalBytes, FreeBytes);

    public static FileSystemUsage Of(string path)
    {
        // On Unix DriveInfo calls statvfs on the name it is given, which may be any directory.
        var drive = new DriveInfo(Path.GetFullPath(path));
        return new FileSystemUsage((ulong)drive.TotalSize, (ulong)drive.AvailableFreeSpace);
    }
}
