namespace Outpost.Agent.Workloads.Runc;

/// <summary>
/// Resolves a path inside an untrusted rootfs the way the container would see it: symlinks
/// are followed relative to the rootfs, so a link like /etc/passwd → /host/secret never leaves it.
/// </summary>
internal static class RootfsPath
{
    private const int MaxSymlinkHops = 40;

    /// <summary>The host path for <paramref name="containerPath"/>, or null when a symlink loop stops the walk.</summary>
    public static string? Resolve(string rootfs, string containerPath)
    {
        var pending = new Stack<string>(Split(containerPath).Reverse());
        var resolved = new List<string>();
        var hops = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                continue;
            }

            var hostPath = Path.Combine([rootfs, .. resolved, part]);
            var target = new FileInfo(hostPath).LinkTarget;
            if (target is null)
            {
                resolved.Add(part);
                continue;
            }

            if (++hops > MaxSymlinkHops)
            {
                return null;
            }

            if (target.StartsWith('/'))
            {
                resolved.Clear();
            }

            foreach (var targetPart in Split(target).Reverse())
            {
                pending.Push(targetPart);
            }
        }

        return Path.Combine([rootfs, .. resolved]);
    }

    private static IEnumerable<string> Split(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(part => part != ".");
}
