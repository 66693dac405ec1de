using System.Runtime.InteropServices;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>
/// Merges unpacked image layers into one directory, applying whiteouts the way overlayfs would:
/// a 0/0 character device or a ".wh.name" file deletes "name" from lower layers,
/// ".wh..wh..opq" empties its directory. Used only when overlayfs is unavailable.
/// </summary>
internal static class LayerCopier
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";

    public static void CopyLayers(IReadOnlyList<string> layers, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var layer in layers)
        {
            CopyDirectory(layer, destination);
        }
    }

    private static void CopyDirectory(string source, string destination)
    {
        var entries = new DirectoryInfo(source).EnumerateFileSystemInfos().ToList();
        if (entries.Any(e => e.Name == OpaqueMarker))
        {
            foreach (var existing in new DirectoryInfo(destination).EnumerateFileSystemInfos())
            {
                DeleteEntry(existing.FullName);
            }
        }

        foreach (var entry in entries.Where(e => e.Name != OpaqueMarker))
        {
            var sourcePath = entry.FullName;
            if (entry.Name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
            {
                DeleteEntry(Path.Combine(destination, entry.Name[WhiteoutPrefix.Length..]));
                continue;
            }

            var target = Path.Combine(destination, entry.Name);
            var info = FileStat.Of(sourcePath);
            switch (info.Kind)
            {
                case FileKind.Directory:
                    if (!Directory.Exists(target) || new FileInfo(target).LinkTarget is not null)
                    {
                        DeleteEntry(target);
                        Directory.CreateDirectory(target);
                    }

                    CopyDirectory(sourcePath, target);
                    ApplyOwnerAndMode(target, info);
                    break;
                case FileKind.Symlink:
                    DeleteEntry(target);
                    File.CreateSymbolicLink(target, entry.LinkTarget!);
                    LibC.lchown(target, info.Uid, info.Gid);
                    break;
                case FileKind.Regular:
                    DeleteEntry(target);
                    File.Copy(sourcePath, target);
                    ApplyOwnerAndMode(target, info);
                    break;
                case FileKind.CharacterDevice when info.IsWhiteoutDevice:
                    DeleteEntry(target);
                    break;
                default:
                    // Device nodes, FIFOs and sockets do not come from trusted image content; leave them out.
                    break;
            }
        }
    }

    private static void ApplyOwnerAndMode(string path, FileStat info)
    {
        LibC.lchown(path, info.Uid, info.Gid);
        // chown clears set-id bits, so the mode goes on afterwards. (The guard only satisfies the
        // platform analyzer: the driver runs on Linux alone.)
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(path, (UnixFileMode)(info.Mode & 0xFFF));
        }
    }

    private static void DeleteEntry(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || File.Exists(path))
        {
            info.Delete();
        }
        else if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }

    private enum FileKind
    {
        Other,
        Regular,
        Directory,
        Symlink,
        CharacterDevice,
    }

    private readonly record struct FileStat(FileKind Kind, int Mode, int Uid, int Gid, uint RdevMajor, uint RdevMinor)
    {
        private const uint BasicStats = 0x7ff;

        public bool IsWhiteoutDevice => RdevMajor == 0 && RdevMinor == 0;

        public static FileStat Of(string path)
        {
            var buffer = new byte[256];
            if (LibC.statx(LibC.AtFdCwd, path, LibC.AtSymlinkNoFollow, BasicStats, buffer) != 0)
            {
                throw new WorkloadRuntimeException($"Could not read {path} while copying image layers: {LibC.ErrorText(Marshal.GetLastPInvokeError())}.");
            }

            // struct statx (native byte order): uid at 20, gid at 24, mode at 28, rdev major/minor at 128/132.
            var span = buffer.AsSpan();
            var mode = MemoryMarshal.Read<ushort>(span[28..]);
            var kind = (mode & 0xF000) switch
            {
                0x8000 => FileKind.Regular,
                0x4000 => FileKind.Directory,
                0xA000 => FileKind.Symlink,
                0x2000 => FileKind.CharacterDevice,
                _ => FileKind.Other,
            };
            return new FileStat(kind, mode,
                (int)MemoryMarshal.Read<uint>(span[20..]),
                (int)MemoryMarshal.Read<uint>(span[24..]),
                MemoryMarshal.Read<uint>(span[128..]),
                MemoryMarshal.Read<uint>(span[132..]));
        }
    }
}
