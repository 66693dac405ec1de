namespace Outpost.Agent.Workloads;

/// <summary>What the agent wants running: one app instance, already resolved to directories on this host.</summary>
/// <param name="Id">The app instance UUID; also the runtime's container id.</param>
/// <param name="LowerDirectories">Read-only image content in layer order (base first), or a single rootfs directory.</param>
/// <param name="WritableDirectory">Per-app directory that holds the container's changes; deleted with the workload.</param>
public sealed record WorkloadSpec(
    string Id,
    string DisplayName,
    IReadOnlyList<string> LowerDirectories,
    string WritableDirectory,
    WorkloadProcess Process)
{
    public IReadOnlyList<WorkloadMount> Mounts { get; init; } = [];

    public WorkloadLimits Limits { get; init; } = WorkloadLimits.None;

    /// <summary>Hostname inside the workload; the display name's sanitized form when null.</summary>
    public string? Hostname { get; init; }

    /// <summary>An existing network namespace to join (e.g. /var/run/netns/x); null gives a new one with only loopback.</summary>
    public string? NetworkNamespacePath { get; init; }

    /// <summary>Set for a VM app (run by the QEMU driver, which ignores the container fields); null for a container.</summary>
    public VmWorkloadSpec? Vm { get; init; }
}

/// <summary>A host directory made visible inside the workload.</summary>
public sealed record WorkloadMount(string HostPath, string ContainerPath, bool ReadOnly = false);

/// <param name="MemoryBytes">Hard memory limit; null for none.</param>
/// <param name="Vcpus">CPU time as a number of CPUs (1.5 = one and a half); null for none.</param>
public sealed record WorkloadLimits(long? MemoryBytes, double? Vcpus)
{
    public static WorkloadLimits None { get; } = new(null, null);
}
