namespace Outpost.Image.Rootfs;

/// <summary>
/// An in-memory file tree. Layers and images are applied to it instead of to the host file system, so
/// composing a rootfs needs no root privileges and cannot be tricked into writing outside its tree.
/// Children are kept sorted (ordinal), so enumeration order, and therefore output, is deterministic.
/// </summary>
public sealed class FsTree
{
    private sealed class Node(FsEntry entry)
    {
        public FsEntry Entry = entry;
        public SortedDictionary<string, Node>? Children;
    }

    private readonly Node _root;
    private readonly long _implicitDirectoryMTime;

    public FsTree(long implicitDirectoryMTime = 0)
    {
        _implicitDirectoryMTime = implicitDirectoryMTime;
        _root = new Node(FsEntry.Directory(implicitDirectoryMTime)) { Children = new(StringComparer.Ordinal) };
    }

    /// <summary>Normalizes a tar or YAML path to "a/b/c": no leading "./" or "/", no "." parts; ".." is refused.</summary>
    public static string Normalize(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..") throw new ImageBuildException($"path '{path}' climbs out of its root with '..'; the image is malformed or hostile.");
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    public FsEntry? Get(string path) => Find(Normalize(path))?.Entry;

    public bool Contains(string path) => Find(Normalize(path)) is not null;

    /// <summary>
    /// Puts an entry at <paramref name="path"/>, creating missing parent directories. A directory placed over
    /// a directory keeps the existing children (as tar extraction does); anything else replaces the subtree.
    /// </summary>
    /// <param name="keepDirectorySymlink">A directory placed over a symlink that leads to a directory of this tree leaves the link alone.</param>
    public void Set(string path, FsEntry entry, bool keepDirectorySymlink = false)
    {
        var normalized = Normalize(path);
        if (normalized.Length == 0)
        {
            if (entry.Type == FsEntryType.Directory) _root.Entry = entry;
            return;
        }
        if (keepDirectorySymlink && entry.Type == FsEntryType.Directory && Find(normalized) is { Entry.Type: FsEntryType.Symlink }
            && ResolveDirectory(normalized, create: false) is not null)
            return;
        var (parent, name) = ParentOf(normalized, create: true);
        var children = parent!.Children!;
        if (children.TryGetValue(name, out var existing) && existing.Entry.Type == FsEntryType.Directory && entry.Type == FsEntryType.Directory)
        {
            existing.Entry = entry;
            return;
        }
        children[name] = new Node(entry) { Children = entry.Type == FsEntryType.Directory ? new(StringComparer.Ordinal) : null };
    }

    /// <summary>Removes a path and everything below it; returns false when it did not exist.</summary>
    public bool Remove(string path)
    {
        var normalized = Normalize(path);
        if (normalized.Length == 0) return false;
        var (parent, name) = ParentOf(normalized, create: false);
        return parent?.Children?.Remove(name) ?? false;
    }

    /// <summary>Empties a directory but keeps it (an OCI opaque whiteout).</summary>
    public void ClearDirectory(string path)
    {
        if (Find(Normalize(path)) is { Children: { } children }) children.Clear();
    }

    /// <summary>Copies every entry of <paramref name="other"/> under <paramref name="prefix"/> (content is shared).</summary>
    public void Graft(FsTree other, string prefix, Func<FsEntry, FsEntry>? transform = null)
    {
        var normalizedPrefix = Normalize(prefix);
        if (normalizedPrefix.Length > 0) Set(normalizedPrefix, other._root.Entry);
        foreach (var (path, entry) in other.Enumerate())
        {
            var target = normalizedPrefix.Length == 0 ? path : normalizedPrefix + "/" + path;
            Set(target, transform is null ? entry : transform(entry));
        }
    }

    /// <summary>All entries except the root, parents before children, siblings in ordinal order.</summary>
    public IEnumerable<(string Path, FsEntry Entry)> Enumerate()
    {
        var stack = new Stack<(string Path, Node Node)>();
        foreach (var child in _root.Children!.Reverse()) stack.Push((child.Key, child.Value));
        while (stack.TryPop(out var item))
        {
            yield return (item.Path, item.Node.Entry);
            if (item.Node.Children is null) continue;
            foreach (var child in item.Node.Children.Reverse()) stack.Push((item.Path + "/" + child.Key, child.Value));
        }
    }

    public FsEntry RootEntry => _root.Entry;

    public long TotalContentBytes => Enumerate().Sum(e => (long)e.Entry.Content.Length);

    private Node? Find(string normalized)
    {
        if (normalized.Length == 0) return _root;
        var slash = normalized.LastIndexOf('/');
        var parent = slash < 0 ? _root : ResolveDirectory(normalized[..slash], create: false);
        return parent?.Children is { } children && children.TryGetValue(normalized[(slash + 1)..], out var node) ? node : null;
    }

    private (Node? Parent, string Name) ParentOf(string normalized, bool create)
    {
        var slash = normalized.LastIndexOf('/');
        var name = normalized[(slash + 1)..];
        return (slash < 0 ? _root : ResolveDirectory(normalized[..slash], create), name);
    }

    /// <summary>
    /// Walks to a directory as the kernel would on the finished rootfs: a parent that is a symlink to a directory of
    /// this tree is followed (Debian's merged /usr makes /lib, /bin and /sbin such links, and a kernel image's
    /// lib/modules must land in usr/lib/modules), with targets resolved inside the tree — never above its root.
    /// </summary>
    private Node? ResolveDirectory(string normalized, bool create, int depth = 0)
    {
        if (depth > 40) throw new ImageBuildException($"too many levels of symbolic links resolving '{normalized}'.");
        var node = _root;
        var walked = new List<string>();
        var parts = normalized.Split('/');
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (node.Children!.TryGetValue(part, out var next))
            {
                if (next.Children is not null)
                {
                    node = next;
                    walked.Add(part);
                    continue;
                }
                if (next.Entry is { Type: FsEntryType.Symlink, LinkTarget: { } target }
                    && ResolveLink(walked, target) is { } resolved
                    && ResolveDirectory(string.Join('/', [.. resolved, .. parts[(i + 1)..]]), create, depth + 1) is { } followed)
                {
                    return followed;
                }
            }
            if (!create) return null;
            // A missing parent, or a non-directory in the way (replaced, as tar extraction would).
            next = new Node(FsEntry.Directory(_implicitDirectoryMTime)) { Children = new(StringComparer.Ordinal) };
            node.Children[part] = next;
            node = next;
            walked.Add(part);
        }
        return node;
    }

    /// <summary>The tree path a link in <paramref name="directory"/> points at, or null when it points nowhere usable.</summary>
    private static List<string>? ResolveLink(List<string> directory, string target)
    {
        var path = target.StartsWith('/') ? new List<string>() : new List<string>(directory);
        foreach (var part in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                if (path.Count > 0) path.RemoveAt(path.Count - 1);
                continue;
            }
            path.Add(part);
        }
        return path.Count == 0 ? null : path;
    }
}
