using System.Globalization;
using System.Text.Json.Nodes;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>
/// Writes the OCI runtime spec (config.json, version 1.0.2) for a workload: defaults close to
/// `runc spec` and Docker's, plus the app's process, volumes, limits and namespaces.
/// </summary>
internal static class RuntimeSpecBuilder
{
    public const long CpuPeriodMicroseconds = 100_000;

    // Docker's default capability set: enough for ordinary services, nothing that reaches the host.
    private static readonly string[] DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    private static readonly string[] MaskedPaths =
    [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    ];

    private static readonly string[] ReadonlyPaths =
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    public static JsonObject Build(
        WorkloadSpec spec, ContainerProcess process, string rootfsPath, string hostname, CgroupCapabilities cgroups)
    {
        return new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = BuildProcess(process),
            ["root"] = new JsonObject { ["path"] = rootfsPath, ["readonly"] = false },
            ["hostname"] = hostname,
            ["mounts"] = BuildMounts(spec.Mounts),
            ["linux"] = new JsonObject
            {
                ["namespaces"] = BuildNamespaces(spec.NetworkNamespacePath),
                ["resources"] = BuildResources(spec.Limits, cgroups),
                // Relative: runc places it under the agent's own cgroup, as it does by default.
                ["cgroupsPath"] = $"outpost/{spec.Id}",
                ["maskedPaths"] = ToArray(MaskedPaths),
                ["readonlyPaths"] = ToArray(ReadonlyPaths),
            },
        };
    }

    /// <summary>The warnings for limits the host cannot enforce; those limits are left out of the spec.</summary>
    public static IEnumerable<string> UnenforceableLimits(WorkloadLimits limits, CgroupCapabilities cgroups)
    {
        if (limits.MemoryBytes is not null && !cgroups.CanLimitMemory)
        {
            yield return $"The memory limit of {limits.MemoryBytes} bytes is not enforced: the host's cgroups ({cgroups.Layout}) have no memory controller runc can use.";
        }

        if (limits.Vcpus is not null && !cgroups.CanLimitCpu)
        {
            yield return $"The CPU limit of {limits.Vcpus.Value.ToString(CultureInfo.InvariantCulture)} vCPUs is not enforced: the host's cgroups ({cgroups.Layout}) have no cpu controller with quotas runc can use.";
        }
    }

    private static JsonObject BuildProcess(ContainerProcess process)
    {
        // A non-root user starts without effective capabilities, as it would after setuid on the host.
        var isRoot = process.Uid == 0;
        return new JsonObject
        {
            ["terminal"] = false,
            ["user"] = new JsonObject
            {
                ["uid"] = process.Uid,
                ["gid"] = process.Gid,
                ["additionalGids"] = new JsonArray(process.AdditionalGids.Select(g => (JsonNode)g).ToArray()),
                // Docker's 022, stated: the app must not inherit the shim's private 077.
                ["umask"] = 18,
            },
            ["args"] = ToArray(process.Args),
            ["env"] = ToArray(process.Env),
            ["cwd"] = process.WorkingDirectory,
            ["capabilities"] = new JsonObject
            {
                ["bounding"] = ToArray(DefaultCapabilities),
                ["effective"] = ToArray(isRoot ? DefaultCapabilities : []),
                ["permitted"] = ToArray(isRoot ? DefaultCapabilities : []),
            },
            ["noNewPrivileges"] = true,
        };
    }

    private static JsonArray BuildMounts(IReadOnlyList<WorkloadMount> volumes)
    {
        var mounts = new JsonArray
        {
            Mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
            Mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
            Mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            Mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
        };
        foreach (var volume in volumes)
        {
            mounts.Add(Mount(volume.ContainerPath, "bind", volume.HostPath, "rbind", "rprivate", volume.ReadOnly ? "ro" : "rw"));
        }

        return mounts;
    }

    private static JsonArray BuildNamespaces(string? networkNamespacePath)
    {
        var network = new JsonObject { ["type"] = "network" };
        if (networkNamespacePath is not null)
        {
            network["path"] = networkNamespacePath;
        }

        return new JsonArray(
        [
            (JsonNode)new JsonObject { ["type"] = "pid" },
            new JsonObject { ["type"] = "ipc" },
            new JsonObject { ["type"] = "uts" },
            new JsonObject { ["type"] = "mount" },
            network,
        ]);
    }

    private static JsonObject BuildResources(WorkloadLimits limits, CgroupCapabilities cgroups)
    {
        // Deny every device, then runc adds its standard set (null, zero, random, tty...).
        var resources = new JsonObject
        {
            ["devices"] = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" }),
        };
        if (limits.MemoryBytes is { } memory && cgroups.CanLimitMemory)
        {
            resources["memory"] = new JsonObject { ["limit"] = memory };
        }

        if (limits.Vcpus is { } vcpus && cgroups.CanLimitCpu)
        {
            resources["cpu"] = new JsonObject
            {
                ["quota"] = (long)Math.Ceiling(vcpus * CpuPeriodMicroseconds),
                ["period"] = CpuPeriodMicroseconds,
            };
        }

        return resources;
    }

    // JsonNode, not JsonObject: JsonArray.Add<T> of a JsonObject is the reflection path Native AOT cannot take.
    private static JsonNode Mount(string destination, string type, string source, params string[] options) =>
        new JsonObject
        {
            ["destination"] = destination,
            ["type"] = type,
            ["source"] = source,
            ["options"] = ToArray(options),
        };

    private static JsonArray ToArray(IEnumerable<string> values) => new(values.Select(v => (JsonNode)v).ToArray());
}
