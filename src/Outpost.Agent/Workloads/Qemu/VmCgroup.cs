using System.Globalization;
using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>The cgroups one VM runs in: the cgroup.procs files its shim joins, and what could not be limited.</summary>
public sealed record VmCgroupSet(IReadOnlyList<string> ProcsFiles, IReadOnlyList<string> Directories, IReadOnlyList<string> Warnings);

/// <summary>
/// Puts a QEMU process in cgroups of its own under "outpost/vm-ID": a memory limit (guest RAM plus QEMU's own
/// overhead, so a guest cannot make QEMU eat the host), a CPU quota of its vCPU count, and the CPUs it may run on.
/// cgroup v1 (one hierarchy per controller, what this kind of host has) and v2 (one tree) are both handled. A limit
/// the host cannot enforce is a warning on the app, not a failure: the VM still runs, as EVE does on such hosts.
/// </summary>
public static class VmCgroup
{
    private const string Root = "/sys/fs/cgroup";
    private const string Parent = "outpost";
    private const long CpuPeriodMicroseconds = 100_000;

    /// <param name="memoryBytes">The hard memory limit, or null.</param>
    /// <param name="cpus">The CPU quota as a number of CPUs, or null.</param>
    /// <param name="cpuSet">The CPUs to run on (a Linux CPU list), or null.</param>
    public static VmCgroupSet Create(string id, long? memoryBytes, double? cpus, string? cpuSet)
    {
        var layout = CgroupCapabilities.Detect().Layout;
        return layout switch
        {
            CgroupLayout.Unified => CreateV2(id, memoryBytes, cpus, cpuSet),
            CgroupLayout.Legacy or CgroupLayout.Hybrid => CreateV1(id, memoryBytes, cpus, cpuSet),
            _ => new VmCgroupSet([], [], ["No cgroup file system is mounted: the VM's memory and CPU limits are not enforced."]),
        };
    }

    /// <summary>Removes the VM's cgroups; call once its processes are gone (a cgroup with members cannot be removed).</summary>
    public static void Remove(IEnumerable<string> directories)
    {
        foreach (var directory in directories)
        {
            try
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory);
                }
            }
            catch (IOException)
            {
                // Still busy (a process lingers) or already gone: the next delete or reboot clears it.
            }
        }
    }

    private static VmCgroupSet CreateV1(string id, long? memoryBytes, double? cpus, string? cpuSet)
    {
        var procs = new List<string>();
        var directories = new List<string>();
        var warnings = new List<string>();

        string? Make(string controller)
        {
            if (CgroupCapabilities.V1MountPoint(controller) is not { } mount)
            {
                return null;
            }

            var directory = Path.Combine(mount, Parent, "vm-" + id);
            Directory.CreateDirectory(directory);
            directories.Add(directory);
            procs.Add(Path.Combine(directory, "cgroup.procs"));
            return directory;
        }

        Try(warnings, "memory", memoryBytes is not null, () =>
        {
            var memory = Make("memory") ?? throw new IOException("no memory cgroup hierarchy is mounted");
            Write(memory, "memory.limit_in_bytes", memoryBytes!.Value);
        });
        Try(warnings, "CPU", cpus is not null, () =>
        {
            var cpu = Make("cpu") ?? throw new IOException("no cpu cgroup hierarchy is mounted");
            Write(cpu, "cpu.cfs_period_us", CpuPeriodMicroseconds);
            Write(cpu, "cpu.cfs_quota_us", (long)Math.Ceiling(cpus!.Value * CpuPeriodMicroseconds));
        });
        Try(warnings, "CPU set", cpuSet is not null, () =>
        {
            var mount = CgroupCapabilities.V1MountPoint("cpuset") ?? throw new IOException("no cpuset cgroup hierarchy is mounted");
            // A v1 cpuset cgroup takes no process until its cpus and mems are set, and a child's must lie within
            // its parent's: give "outpost" everything the root has first.
            var parent = Path.Combine(mount, Parent);
            Directory.CreateDirectory(parent);
            CopyIfEmpty(mount, parent, "cpuset.cpus");
            CopyIfEmpty(mount, parent, "cpuset.mems");
            var directory = Make("cpuset")!;
            File.WriteAllText(Path.Combine(directory, "cpuset.mems"), File.ReadAllText(Path.Combine(parent, "cpuset.mems")).Trim());
            File.WriteAllText(Path.Combine(directory, "cpuset.cpus"), cpuSet!);
        });
        return new VmCgroupSet(procs.Distinct().ToList(), directories.Distinct().ToList(), warnings);
    }

    private static VmCgroupSet CreateV2(string id, long? memoryBytes, double? cpus, string? cpuSet)
    {
        var warnings = new List<string>();
        var parent = Path.Combine(Root, Parent);
        var directory = Path.Combine(parent, "vm-" + id);
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new VmCgroupSet([], [], [$"The VM's cgroup {directory} cannot be created ({e.Message}): its memory and CPU limits are not enforced."]);
        }

        // Controllers reach a v2 cgroup only when every ancestor enables them for its children.
        foreach (var controller in new[] { "memory", "cpu", "cpuset" })
        {
            TryEnable(Path.Combine(Root, "cgroup.subtree_control"), controller);
            TryEnable(Path.Combine(parent, "cgroup.subtree_control"), controller);
        }

        Try(warnings, "memory", memoryBytes is not null, () => Write(directory, "memory.max", memoryBytes!.Value));
        Try(warnings, "CPU", cpus is not null, () => File.WriteAllText(Path.Combine(directory, "cpu.max"),
            string.Create(CultureInfo.InvariantCulture, $"{(long)Math.Ceiling(cpus!.Value * CpuPeriodMicroseconds)} {CpuPeriodMicroseconds}")));
        Try(warnings, "CPU set", cpuSet is not null, () => File.WriteAllText(Path.Combine(directory, "cpuset.cpus"), cpuSet!));
        return new VmCgroupSet([Path.Combine(directory, "cgroup.procs")], [directory], warnings);
    }

    private static void Try(List<string> warnings, string what, bool wanted, Action apply)
    {
        if (!wanted)
        {
            return;
        }

        try
        {
            apply();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warnings.Add($"The VM's {what} limit is not enforced: this host's cgroups refused it ({e.Message}).");
        }
    }

    private static void Write(string directory, string file, long value) =>
        File.WriteAllText(Path.Combine(directory, file), value.ToString(CultureInfo.InvariantCulture));

    private static void CopyIfEmpty(string from, string to, string file)
    {
        if (File.ReadAllText(Path.Combine(to, file)).Trim().Length == 0)
        {
            File.WriteAllText(Path.Combine(to, file), File.ReadAllText(Path.Combine(from, file)).Trim());
        }
    }

    private static void TryEnable(string subtreeControl, string controller)
    {
        try
        {
            File.WriteAllText(subtreeControl, "+" + controller);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not available here; the limit that needs it becomes a warning when it is written.
        }
    }
}
