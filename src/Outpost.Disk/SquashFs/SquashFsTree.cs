using System.Text;

namespace Outpost.Disk.SquashFs;

/// <summary>A node of the image being built, plus what the writer learns about it along the way.</summary>
internal sealed class SquashFsNode(string name, SquashFsEntry entry, SquashFsNode? parent)
{
    public string Name { get; } = name;
    public byte[] NameBytes { get; } = Encoding.UTF8.GetBytes(name);
    public SquashFsEntry Entry { get; set; } = entry;
    public SquashFsNode? Parent { get; } = parent;
    public SortedDictionary<string, SquashFsNode> Children { get; } = new(StringComparer.Ordinal);
    public bool ExplicitlyGiven { get; set; }

    public uint InodeNumber { get; set; }
    public (long Block, int Offset) InodeReference { get; set; }

    // File data placement.
    public long BlocksStart { get; set; }
    public long FileSize { get; set; }
    public List<uint> BlockSizes { get; } = [];
    public uint FragmentIndex { get; set; } = uint.MaxValue;
    public uint FragmentOffset { get; set; }

    public bool IsDirectory => Entry.Type == SquashFsEntryType.Directory;

    /// <summary>Children in the byte order squashfs requires (directory lookups binary-search by name).</summary>
    public IEnumerable<SquashFsNode> SortedChildren =>
        Children.Values.OrderBy(c => c.NameBytes, ByteOrder.Instance);

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}

/// <summary>Turns the flat entry list into a tree, creating implicit parent directories.</summary>
internal static class SquashFsTree
{
    private const int MaxNameBytes = 256;

    public static SquashFsNode Build(IEnumerable<SquashFsEntry> entries, SquashFsOptions options)
    {
        var root = new SquashFsNode("", ImplicitDirectory("", options), null);
        foreach (var entry in entries)
        {
            Validate(entry);
            var parts = entry.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || (parts.Length == 1 && parts[0] == "."))
            {
                if (entry.Type != SquashFsEntryType.Directory)
                {
                    throw new SquashFsFormatException($"The root '{entry.Path}' must be a directory, not a {entry.Type}.");
                }
                root.Entry = entry;
                continue;
            }
            var parent = root;
            foreach (var part in parts[..^1])
            {
                parent = ChildDirectory(parent, part, entry.Path, options);
            }
            string name = CheckName(parts[^1], entry.Path);
            if (parent.Children.TryGetValue(name, out var existing))
            {
                if (existing.ExplicitlyGiven || !existing.IsDirectory || entry.Type != SquashFsEntryType.Directory)
                {
                    throw new SquashFsFormatException($"'{entry.Path}' is given twice; each path may appear once.");
                }
                existing.Entry = entry;
                existing.ExplicitlyGiven = true;
                continue;
            }
            parent.Children.Add(name, new SquashFsNode(name, entry, parent) { ExplicitlyGiven = true });
        }
        return root;
    }

    private static SquashFsNode ChildDirectory(SquashFsNode parent, string part, string fullPath, SquashFsOptions options)
    {
        string name = CheckName(part, fullPath);
        if (parent.Children.TryGetValue(name, out var existing))
        {
            return existing.IsDirectory ? existing
                : throw new SquashFsFormatException($"'{fullPath}' needs '{name}' to be a directory, but it was given as a {existing.Entry.Type}.");
        }
        var directory = new SquashFsNode(name, ImplicitDirectory(name, options), parent);
        parent.Children.Add(name, directory);
        return directory;
    }

    private static string CheckName(string name, string fullPath)
    {
        if (name is "." or ".." || Encoding.UTF8.GetByteCount(name) > MaxNameBytes || name.Contains('\0'))
        {
            throw new SquashFsFormatException($"'{fullPath}' has an invalid component '{name}': no '.', '..', NUL, or names over {MaxNameBytes} bytes.");
        }
        return name;
    }

    private static void Validate(SquashFsEntry entry)
    {
        if (entry.Mode is < 0 or > 0xFFF)
        {
            throw new SquashFsFormatException($"'{entry.Path}' has mode {Convert.ToString(entry.Mode, 8)}; give only permission bits (0-7777 octal).");
        }
        if (entry.Type == SquashFsEntryType.File && entry.OpenContent is null)
        {
            throw new SquashFsFormatException($"File '{entry.Path}' has no content; set OpenContent.");
        }
        if (entry.Type == SquashFsEntryType.Symlink && string.IsNullOrEmpty(entry.LinkTarget))
        {
            throw new SquashFsFormatException($"Symlink '{entry.Path}' has no target; set LinkTarget.");
        }
    }

    private static SquashFsEntry ImplicitDirectory(string name, SquashFsOptions options) =>
        SquashFsEntry.Directory(name, modificationTime: options.ModificationTime);
}
