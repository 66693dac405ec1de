namespace Outpost.Agent.Tests.Workloads;

/// <summary>Reads a process's cgroup limits from the host side, independent of the driver's own code.</summary>
internal static class HostCgroup
{
    public static string ReadMemoryLimit(int pid) =>
        IsUnified
            ? Read(pid, "", "memory.max")
            : Read(pid, "memory", "memory.limit_in_bytes");

    /// <summary>"quota period" in microseconds, the format of cgroup v2's cpu.max.</summary>
    public static string ReadCpuQuotaAndPeriod(int pid) =>
        IsUnified
            ? Read(pid, "", "cpu.max")
            : $"{Read(pid, "cpu", "cpu.cfs_quota_us")} {Read(pid, "cpu", "cpu.cfs_period_us")}";

    private static bool IsUnified =>
        MountInfo().Any(fields => fields.MountPoint == "/sys/fs/cgroup" && fields.FileSystemType == "cgroup2");

    private static string Read(int pid, string controller, string file)
    {
        // /proc/<pid>/cgroup lines: "id:controllers:path"; v2 has an empty controller list.
        var cgroupPath = File.ReadLines($"/proc/{pid}/cgroup")
            .Select(line => line.Split(':', 3))
            .First(parts => controller.Length == 0 ? parts[1].Length == 0 : parts[1].Split(',').Contains(controller))[2];
        var mount = MountInfo().First(m => controller.Length == 0
            ? m.FileSystemType == "cgroup2"
            : m.FileSystemType == "cgroup" && m.SuperOptions.Split(',').Contains(controller));
        var relative = Path.GetRelativePath(mount.Root, cgroupPath);
        return File.ReadAllText(Path.Combine(mount.MountPoint, relative, file)).Trim();
    }

    private static IEnumerable<(string Root, string MountPoint, string FileSystemType, string SuperOptions)> MountInfo() =>
        File.ReadLines("/proc/self/mountinfo").Select(line =>
        {
            var halves = line.Split(" - ");
            var before = halves[0].Split(' ');
            var after = halves[1].Split(' ');
            return (before[3], before[4], after[0], after[2]);
        });
}
