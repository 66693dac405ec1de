namespace Outpost.Disk.Fat;

/// <summary>A node of the in-memory tree a FAT volume is built from.</summary>
public abstract class FatNode
{
    private protected FatNode(string name) => Name = name;

    /// <summary>Long file name as it will appear on the volume (case preserved).</summary>
    public string Name { get; }
}

/// <summary>A file whose bytes are produced on demand, so large files need not sit in memory.</summary>
public sealed class FatFile : FatNode
{
    internal FatFile(string name, long length, Func<Stream> openContent) : base(name)
    {
        Length = length;
        OpenContent = openContent;
    }

    /// <summary>Exact length in bytes; the writer checks the content matches it.</summary>
    public long Length { get; }

    /// <summary>Opens a fresh stream over the content; called once while writing.</summary>
    public Func<Stream> OpenContent { get; }
}

/// <summary>
/// A directory. Build a volume by creating a root with <see cref="CreateRoot"/> and adding files by
/// slash-separated path; missing parent directories are created. Entries are written sorted by
/// ordinal name, so insertion order does not change the output bytes.
/// </summary>
public sealed class FatDirectory : FatNode
{
    private readonly SortedDictionary<string, FatNode> _children = new(StringComparer.OrdinalIgnoreCase);

    private FatDirectory(string name) : base(name)
    {
    }

    /// <summary>Creates an empty root directory.</summary>
    public static FatDirectory CreateRoot() => new("");

    /// <summary>Children sorted by name (FAT names are case-insensitive, so case-only duplicates are rejected).</summary>
    public IEnumerable<FatNode> Children => _children.Values.OrderBy(c => c.Name, StringComparer.Ordinal);

    /// <summary>Adds a file with in-memory content.</summary>
    public FatFile AddFile(string path, byte[] content) =>
        AddFile(path, content.Length, () => new MemoryStream(content, writable: false));

    /// <summary>Adds a file whose content is read from <paramref name="openContent"/> while writing.</summary>
    public FatFile AddFile(string path, long length, Func<Stream> openContent)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var (parent, name) = ResolveParent(path);
        var file = new FatFile(name, length, openContent);
        parent.Add(file);
        return file;
    }

    /// <summary>Adds (or returns the existing) directory at <paramref name="path"/>, creating parents.</summary>
    public FatDirectory AddDirectory(string path)
    {
        var directory = this;
        foreach (var part in SplitPath(path))
        {
            directory = directory.GetOrAddDirectory(part);
        }
        return directory;
    }

    private (FatDirectory Parent, string Name) ResolveParent(string path)
    {
        var parts = SplitPath(path);
        if (parts.Length == 0)
        {
            throw new FatLayoutException($"'{path}' is not a file path; give a name such as 'EFI/BOOT/BOOTX64.EFI'.");
        }
        var parent = this;
        foreach (var part in parts[..^1])
        {
            parent = parent.GetOrAddDirectory(part);
        }
        return (parent, parts[^1]);
    }

    private FatDirectory GetOrAddDirectory(string name)
    {
        if (_children.TryGetValue(name, out var existing))
        {
            return existing as FatDirectory
                ?? throw new FatLayoutException($"'{name}' already exists as a file, so it cannot also be a directory.");
        }
        var directory = new FatDirectory(name);
        _children.Add(name, directory);
        return directory;
    }

    private void Add(FatNode node)
    {
        if (!_children.TryAdd(node.Name, node))
        {
            throw new FatLayoutException($"'{node.Name}' is added twice to the same directory (FAT names ignore case).");
        }
    }

    private static string[] SplitPath(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        foreach (var part in parts)
        {
            FatNames.ValidateLongName(part);
        }
        return parts;
    }
}
