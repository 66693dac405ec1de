namespace Outpost.Agent.Reporting.Proc;

/// <summary>One line of /proc/self/mounts.</summary>
public sealed record MountEntry(string Device, string MountPoint, string FileSystemType);

/// <summary>/proc/self/mounts, used to name the file system that holds STATEDIR.</summary>
public static class ProcMounts
{
    public static IReadOnlyList<MountEntry> Parse(string text) =>
        text.Split('\n')
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 3)
            .Select(fields => new MountEntry(Unescape(fields[0]), Unescape(fields[1]), fields[2]))
            .ToList();

    /// <summary>The mount with the longest mount point that contains <paramref name="path"/>.</summary>
    public static MountEntry? Containing(IReadOnlyList<MountEntry> mounts, string path)
    {
        var full = Path.GetFullPath(path);
        return mounts
            .Where(m => m.MountPoint == "/" || full == m.MountPoint || full.StartsWith(m.MountPoint.TrimEnd('/') + "/", StringComparison.Ordinal))
            .OrderByDescending(m => m.MountPoint.Length)
            .FirstOrDefault();
    }

    public static IReadOnlyList<MountEntry> Read(string procRoot = "/proc") =>
        Parse(File.ReadAllText(Path.Combine(procRoot, "self", "mounts")));

    // The kernel escapes space, tab, newline and backslash as three-digit octal.
    private static string Unescape(string field) =>
        field.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");
}
