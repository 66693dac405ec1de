using System.Formats.Tar;
using System.IO.Compression;

namespace Outpost.Image.Rootfs;

/// <summary>
/// Applies OCI image layers (tar, optionally gzip'd) to an <see cref="FsTree"/>, honouring whiteouts
/// (<c>.wh.NAME</c> deletes NAME, <c>.wh..wh..opq</c> empties the directory). Nothing touches the host
/// file system, so device nodes and any uid are fine and no root is needed.
/// </summary>
public static class LayerApplier
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueWhiteout = ".wh..wh..opq";

    /// <summary>Applies one layer stream (compressed or not; gzip is detected by its magic bytes).</summary>
    /// <param name="keepDirectorySymlinks">A directory entry over a symlink to a directory keeps the link (GNU tar's --keep-directory-symlink) instead of replacing it, as OCI layers do.</param>
    public static async Task ApplyAsync(FsTree tree, Stream layer, string source, CancellationToken cancellationToken, bool keepDirectorySymlinks = false)
    {
        await using var tar = await OpenDecompressedAsync(layer, source, cancellationToken);
        await using var reader = new TarReader(tar, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            var path = FsTree.Normalize(entry.Name);
            if (path.Length == 0) continue;
            var name = path[(path.LastIndexOf('/') + 1)..];
            var directory = path.Length > name.Length ? path[..(path.Length - name.Length - 1)] : "";
            if (name == OpaqueWhiteout)
            {
                tree.ClearDirectory(directory);
                continue;
            }
            if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
            {
                var hidden = name[WhiteoutPrefix.Length..];
                tree.Remove(directory.Length == 0 ? hidden : directory + "/" + hidden);
                continue;
            }
            if (await ToFsEntryAsync(entry, tree, source, cancellationToken) is { } fsEntry)
                tree.Set(path, fsEntry, keepDirectorySymlinks);
        }
    }

    /// <summary>Flattens all layers of an image into a fresh tree.</summary>
    public static async Task<FsTree> FlattenAsync(Sources.SourceImage image, long implicitDirectoryMTime, CancellationToken cancellationToken)
    {
        var tree = new FsTree(implicitDirectoryMTime);
        foreach (var layer in image.Layers)
        {
            await using var stream = await layer.OpenAsync(cancellationToken);
            await ApplyAsync(tree, stream, image.Reference, cancellationToken);
        }
        return tree;
    }

    private static async Task<FsEntry?> ToFsEntryAsync(TarEntry entry, FsTree tree, string source, CancellationToken cancellationToken)
    {
        var common = new FsEntry
        {
            Type = FsEntryType.File,
            Mode = (int)entry.Mode & 0xFFF,
            Uid = entry.Uid,
            Gid = entry.Gid,
            MTime = entry.ModificationTime.ToUnixTimeSeconds(),
            Source = source,
        };
        switch (entry.EntryType)
        {
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                return common with { Content = await ReadAllAsync(entry, cancellationToken) };
            case TarEntryType.Directory:
                return common with { Type = FsEntryType.Directory };
            case TarEntryType.SymbolicLink:
                return common with { Type = FsEntryType.Symlink, LinkTarget = entry.LinkName };
            case TarEntryType.HardLink:
                // Resolved to a copy of the target's entry (sharing its bytes): later whiteouts or grafts
                // cannot then leave a dangling link in the output.
                var target = tree.Get(entry.LinkName)
                    ?? throw new ImageBuildException($"layer of '{source}' hard-links '{entry.Name}' to '{entry.LinkName}', which is not in the image; the image is malformed.");
                return target with { Mode = common.Mode, Uid = common.Uid, Gid = common.Gid, MTime = common.MTime };
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                var posix = (PosixTarEntry)entry;
                return common with
                {
                    Type = entry.EntryType == TarEntryType.CharacterDevice ? FsEntryType.CharDevice : FsEntryType.BlockDevice,
                    DevMajor = posix.DeviceMajor,
                    DevMinor = posix.DeviceMinor,
                };
            case TarEntryType.Fifo:
                return common with { Type = FsEntryType.Fifo };
            default:
                return null; // metadata-only entries (PAX globals, GNU long names are folded in by TarReader)
        }
    }

    private static async Task<byte[]> ReadAllAsync(TarEntry entry, CancellationToken cancellationToken)
    {
        if (entry.DataStream is null || entry.Length == 0) return [];
        var buffer = new byte[entry.Length];
        await entry.DataStream.ReadExactlyAsync(buffer, cancellationToken);
        return buffer;
    }

    private static async Task<Stream> OpenDecompressedAsync(Stream layer, string source, CancellationToken cancellationToken)
    {
        try
        {
            return await Outpost.Oci.Extraction.LayerDecompression.OpenAsync(new BufferedStream(layer, 1 << 16), cancellationToken);
        }
        catch (Outpost.Oci.Errors.UnsupportedContentException)
        {
            throw new NotSupportedYetException($"a layer of '{source}' is zstd-compressed, which Outpost cannot read yet (.NET has no zstd). Rebuild the image with gzip layers.");
        }
    }
}
