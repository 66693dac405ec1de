using Outpost.Oci.Errors;

namespace Outpost.Oci.Extraction;

/// <summary>
/// Resolves paths inside an extraction root the way the kernel would after <c>chroot(root)</c>: symbolic links are
/// followed one component at a time, absolute link targets restart at the root, and <c>..</c> stops at the root.
/// Every host path this returns is therefore inside the root, whatever links earlier layers planted.
/// </summary>
internal static class RootedPath
{
    /// <summary>Splits an archive name into clean components, rejecting absolute names and <c>..</c> escapes.</summary>
    public static List<string> SplitEntryName(string name, string entryName)
    {
        if (name.StartsWith('/'))
            throw new LayerSecurityException(entryName, "its path is absolute");
        var components = new List<string>();
        foreach (var part in name.Split('/'))
        {
            if (part is "" or ".")
                continue;
            if (part == "..")
            {
                if (components.Count == 0)
                    throw new LayerSecurityException(entryName, "its path climbs out of the root with '..'");
                components.RemoveAt(components.Count - 1);
                continue;
            }
            components.Add(part);
        }
        return components;
    }

    /// <summary>
    /// Maps <paramref name="components"/> to a host path under <paramref name="root"/>, following links in every
    /// component except the last unless <paramref name="followFinal"/>.
    /// </summary>
    public static string Resolve(string root, IReadOnlyList<string> components, bool followFinal, int maxLinks, string entryName)
    {
        var resolved = new List<string>();
        var pending = new Stack<string>(components.Reverse());
        var linksFollowed = 0;
        while (pending.TryPop(out var component))
        {
            if (component is "" or ".")
                continue;
            if (component == "..")
            {
                if (resolved.Count > 0)
                    resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var isLast = pending.Count == 0;
            var hostPath = Join(root, resolved, component);
            if ((!isLast || followFinal) && ReadLink(hostPath) is { } target)
            {
                if (++linksFollowed > maxLinks)
                    throw new LayerSecurityException(entryName, $"resolving its path follows more than {maxLinks} symbolic links");
                if (target.StartsWith('/'))
                    resolved.Clear();
                foreach (var part in target.Split('/').Reverse())
                    pending.Push(part);
                continue;
            }
            resolved.Add(component);
        }
        return resolved.Count == 0 ? root : Path.Join(root, string.Join('/', resolved));
    }

    /// <summary>The target of a symbolic link, or null when the path is not one (or does not exist).</summary>
    public static string? ReadLink(string hostPath)
    {
        try
        {
            return new FileInfo(hostPath).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Whether something (file, directory, link — even a dangling one) exists at the path, without following a final link.</summary>
    public static bool Exists(string hostPath) => ReadLink(hostPath) is not null || File.Exists(hostPath) || Directory.Exists(hostPath);

    /// <summary>A real directory, not a link to one.</summary>
    public static bool IsRealDirectory(string hostPath) => ReadLink(hostPath) is null && Directory.Exists(hostPath);

    /// <summary>Removes whatever is at the path; a link is removed itself, never its target.</summary>
    public static void Remove(string hostPath)
    {
        if (IsRealDirectory(hostPath))
            Directory.Delete(hostPath, recursive: true);
        else if (Exists(hostPath))
            File.Delete(hostPath);
    }

    private static string Join(string root, List<string> resolved, string component) =>
        resolved.Count == 0 ? Path.Join(root, component) : Path.Join(root, string.Join('/', resolved), component);
}
