namespace Outpost.Agent.Workloads.Runc;

public enum CgroupLayout
{
    /// <summary>No cgroup file system is mounted; no limit can be enforced.</summary>
    None,

    /// <summary>Only cgroup v1 hierarchies.</summary>
    Legacy,

    /// <summary>v1 controllers plus an empty v2 tree at /sys/fs/cgroup/unified; runc uses the v1 controllers.</summary>
    Hybrid,

    /// <summary>Only cgroup v2 at /sys/fs/cgroup.</summary>
    Unified,
}

/// <summary>Which resource limits runc can enforce on this host, found from the mounted cgroup trees.</summary>
public sealed record CgroupCapabilities(CgroupLayout Layout, bool CanLimitMemory, bool CanLimitCpu)
{
    private const string CgroupRoot = "/sys/fs/cgroup";

    public static CgroupCapabilities Detect() => Detect(File.ReadAllLines("/proc/self/mountinfo"));

    /// <summary>Reads /proc/self/mountinfo lines: "... mountpoint opts ... - fstype source superopts".</summary>
    internal static CgroupCapabilities Detect(IEnumerable<string> mountInfo)
    {
        var mounts = mountInfo.Select(ParseLine).OfType<CgroupMount>().ToList();
        var unifiedAtRoot = mounts.Any(m => m.IsV2 && m.MountPoint == CgroupRoot);
        var v1 = mounts.Where(m => !m.IsV2).ToList();
        if (unifiedAtRoot)
        {
            var controllers = ReadWords(Path.Combine(CgroupRoot, "cgroup.controllers"));
            return new(CgroupLayout.Unified, controllers.Contains("memory"), controllers.Contains("cpu"));
        }

        if (v1.Count == 0)
        {
            return new(CgroupLayout.None, false, false);
        }

        var layout = mounts.Any(m => m.IsV2) ? CgroupLayout.Hybrid : CgroupLayout.Legacy;
        var memory = v1.Any(m => m.Controllers.Contains("memory"));
        // CPU quotas need CFS bandwidth control in the kernel, visible as cpu.cfs_quota_us.
        var cpu = v1.Any(m => m.Controllers.Contains("cpu") && File.Exists(Path.Combine(m.MountPoint, "cpu.cfs_quota_us")));
        return new(layout, memory, cpu);
    }

    /// <summary>Where the cgroup v1 hierarchy holding <paramref name="controller"/> is mounted, or null.</summary>
    public static string? V1MountPoint(string controller) =>
        File.ReadAllLines("/proc/self/mountinfo").Select(ParseLine).OfType<CgroupMount>()
            .FirstOrDefault(m => !m.IsV2 && m.Controllers.Contains(controller))?.MountPoint;

    private static CgroupMount? ParseLine(string line)
    {
        var separator = line.IndexOf(" - ", StringComparison.Ordinal);
        if (separator < 0)
        {
            return null;
        }

        var before = line[..separator].Split(' ');
        var after = line[(separator + 3)..].Split(' ');
        if (before.Length < 5 || after.Length < 3)
        {
            return null;
        }

        return after[0] switch
        {
            "cgroup2" => new CgroupMount(before[4], true, []),
            "cgroup" => new CgroupMount(before[4], false, after[2].Split(',')),
            _ => null,
        };
    }

    private static string[] ReadWords(string path) =>
        File.Exists(path) ? File.ReadAllText(path).Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries) : [];

    private sealed record CgroupMount(string MountPoint, bool IsV2, string[] Controllers);
}
