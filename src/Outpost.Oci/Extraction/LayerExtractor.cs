using System.Formats.Tar;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction.Native;
using Outpost.Oci.Extraction.Streams;

namespace Outpost.Oci.Extraction;

/// <summary>
/// Applies one image layer (tar or tar+gzip) onto a root directory with OCI whiteout semantics, such that no entry
/// can create or modify anything outside the root (see <see cref="RootedPath"/>).
/// </summary>
public static class LayerExtractor
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueWhiteout = ".wh..wh..opq";
    private const UnixFileMode SetIdBits = UnixFileMode.SetUser | UnixFileMode.SetGroup;

    /// <summary>Extracts <paramref name="layer"/> into <paramref name="rootDir"/> (created if missing).</summary>
    public static async Task<ExtractionResult> ExtractAsync(Stream layer, string rootDir, ExtractionPolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(policy);
        var root = Path.GetFullPath(rootDir).TrimEnd('/');
        if (root.Length == 0)
            throw new ArgumentException("Refusing to extract a layer onto the host's /.", nameof(rootDir));
        Directory.CreateDirectory(root);

        await using var decompressed = await LayerDecompression.OpenAsync(layer, cancellationToken);
        await using var hashing = new HashingReadStream(decompressed);
        var session = new ExtractionSession(root, policy);
        await using (var reader = new TarReader(hashing, leaveOpen: true))
        {
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
                await session.ApplyAsync(entry, cancellationToken);
        }
        // The diff id covers the whole uncompressed stream, including the end-of-archive padding the reader skips.
        await hashing.CopyToAsync(Stream.Null, cancellationToken);
        session.ApplyDirectoryMetadata();
        return new ExtractionResult(session.Entries, session.BytesWritten, session.Skipped, OciDigest.FromSha256(hashing.GetHash()));
    }

    private sealed class ExtractionSession(string root, ExtractionPolicy policy)
    {
        private static readonly bool IsRoot = Environment.IsPrivilegedProcess;

        // Host paths this layer created: an opaque whiteout only hides what lower layers left.
        private readonly HashSet<string> _createdHere = new(StringComparer.Ordinal);
        private readonly List<(List<string> Components, TarEntry Entry)> _directories = [];

        public int Entries { get; private set; }
        public long BytesWritten { get; private set; }
        public int Skipped { get; private set; }

        public async Task ApplyAsync(TarEntry entry, CancellationToken cancellationToken)
        {
            Entries++;
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes)
                return;
            var components = RootedPath.SplitEntryName(entry.Name, entry.Name);
            if (components.Count == 0)
                return; // "./" itself: the root keeps its own metadata.
            var name = components[^1];
            var parentHost = RootedPath.Resolve(root, components[..^1], followFinal: true, policy.MaxSymlinkDepth, entry.Name);

            if (name == OpaqueWhiteout)
            {
                ClearLowerLayerContent(parentHost);
                return;
            }
            if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
            {
                var hidden = name[WhiteoutPrefix.Length..];
                if (hidden is "" or "." or "..")
                    throw new LayerSecurityException(entry.Name, "the whiteout names no file");
                RootedPath.Remove(Path.Join(parentHost, hidden));
                return;
            }

            CreateParents(parentHost);
            var target = Path.Join(parentHost, name);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (!RootedPath.IsRealDirectory(target))
                    {
                        RootedPath.Remove(target);
                        Directory.CreateDirectory(target);
                    }
                    _directories.Add((components, entry));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    await WriteFileAsync(entry, target, cancellationToken);
                    break;
                case TarEntryType.SymbolicLink:
                    RootedPath.Remove(target);
                    // Stored verbatim: the link is only ever followed through RootedPath, never by this extractor directly.
                    File.CreateSymbolicLink(target, entry.LinkName);
                    ApplyOwnership(target, entry);
                    break;
                case TarEntryType.HardLink:
                    CreateHardLink(entry, target);
                    break;
                case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                    if (!CreateSpecialFile(entry, target))
                        return;
                    break;
                default:
                    Skipped++;
                    return;
            }
            _createdHere.Add(target);
        }

        public void ApplyDirectoryMetadata()
        {
            // Deepest first, and re-resolved: a later entry may have swapped a parent for a link.
            foreach (var (components, entry) in _directories.AsEnumerable().Reverse())
            {
                var path = RootedPath.Resolve(root, components, followFinal: false, policy.MaxSymlinkDepth, entry.Name);
                if (!RootedPath.IsRealDirectory(path))
                    continue;
                ApplyOwnership(path, entry);
                SetMode(path, Mode(entry));
                Directory.SetLastWriteTimeUtc(path, entry.ModificationTime.UtcDateTime);
            }
        }

        /// <summary>Creates missing parent directories, remembering them as this layer's own for opaque whiteouts.</summary>
        private void CreateParents(string parentHost)
        {
            if (Directory.Exists(parentHost))
                return;
            for (var dir = parentHost; dir.Length > root.Length && !RootedPath.Exists(dir); dir = Path.GetDirectoryName(dir)!)
                _createdHere.Add(dir);
            Directory.CreateDirectory(parentHost);
        }

        private async Task WriteFileAsync(TarEntry entry, string target, CancellationToken cancellationToken)
        {
            if (BytesWritten + entry.Length > policy.MaxBytes)
                throw new QuotaExceededException("Layer extraction", policy.MaxBytes, BytesWritten + entry.Length);
            RootedPath.Remove(target);
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Options = FileOptions.Asynchronous,
            };
            await using (var file = new FileStream(target, options))
            {
                if (entry.DataStream is { } data)
                    await data.CopyToAsync(file, cancellationToken);
            }
            BytesWritten += entry.Length;
            ApplyOwnership(target, entry);
            SetMode(target, Mode(entry));
            File.SetLastWriteTimeUtc(target, entry.ModificationTime.UtcDateTime);
        }

        private void CreateHardLink(TarEntry entry, string target)
        {
            var linkComponents = RootedPath.SplitEntryName(entry.LinkName, entry.Name);
            var existing = RootedPath.Resolve(root, linkComponents, followFinal: false, policy.MaxSymlinkDepth, entry.Name);
            if (!RootedPath.Exists(existing) || RootedPath.IsRealDirectory(existing))
                throw new LayerSecurityException(entry.Name, $"its hard-link target '{entry.LinkName}' is not an earlier file inside the root");
            RootedPath.Remove(target);
            Libc.ThrowOnError(Libc.Link(existing, target), "link", target);
        }

        private bool CreateSpecialFile(TarEntry entry, string target)
        {
            if (!policy.AllowDeviceNodes || !IsRoot)
            {
                if (policy.DisallowedEntries == DisallowedEntryHandling.Skip)
                {
                    Skipped++;
                    return false;
                }
                var why = policy.AllowDeviceNodes ? "device nodes and FIFOs need root privileges" : "the extraction policy forbids device nodes and FIFOs";
                throw new LayerSecurityException(entry.Name, why);
            }
            RootedPath.Remove(target);
            var type = entry.EntryType switch
            {
                TarEntryType.CharacterDevice => Libc.S_IFCHR,
                TarEntryType.BlockDevice => Libc.S_IFBLK,
                _ => Libc.S_IFIFO,
            };
            var device = entry is PosixTarEntry posix ? Libc.MakeDev((uint)posix.DeviceMajor, (uint)posix.DeviceMinor) : 0;
            Libc.ThrowOnError(Libc.Mknod(target, type | (uint)Mode(entry), device), "mknod", target);
            ApplyOwnership(target, entry);
            SetMode(target, Mode(entry));
            return true;
        }

        private void ClearLowerLayerContent(string directory)
        {
            if (!RootedPath.IsRealDirectory(directory))
                return;
            foreach (var child in Directory.EnumerateFileSystemEntries(directory).ToList())
            {
                if (!_createdHere.Contains(child))
                    RootedPath.Remove(child);
            }
        }

        private void ApplyOwnership(string path, TarEntry entry)
        {
            // Only root may give files away; rootless extraction keeps the caller as owner (as umoci --rootless does).
            if (!IsRoot || !policy.ApplyOwnership)
                return;
            Libc.ThrowOnError(Libc.Lchown(path, entry.Uid, entry.Gid), "lchown", path);
        }

        private static void SetMode(string path, UnixFileMode mode)
        {
            // Layers carry POSIX modes; on Windows there is nothing meaningful to apply.
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, mode);
        }

        private UnixFileMode Mode(TarEntry entry) => policy.AllowSetuid ? entry.Mode : entry.Mode & ~SetIdBits;
    }
}
