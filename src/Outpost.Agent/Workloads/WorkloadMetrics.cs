namespace Outpost.Agent.Workloads;

/// <param name="CpuNanoseconds">CPU time used since start, all CPUs together.</param>
/// <param name="MemoryUsedBytes">Memory in use without reclaimable page cache, the way `docker stats` counts it.</param>
/// <param name="MemoryLimitBytes">The enforced limit, or null when unlimited.</param>
public sealed record WorkloadMetrics(ulong CpuNanoseconds, ulong MemoryUsedBytes, ulong? MemoryLimitBytes)
{
    /// <summary>A VM's disks as its hypervisor sees them; empty for a container (its volumes are directories).</summary>
    public IReadOnlyList<WorkloadDiskMetrics> Disks { get; init; } = [];

    /// <summary>The RAM the guest has now (a VM's balloon size), or null when unknown or not a VM.</summary>
    public ulong? GuestMemoryBytes { get; init; }
}

/// <param name="Name">The disk as the app knows it (its image file's name).</param>
/// <param name="ProvisionedBytes">The size the guest sees.</param>
/// <param name="UsedBytes">What the disk's file takes on the host (a qcow2 overlay grows as the guest writes).</param>
/// <param name="Format">qcow2, raw...</param>
/// <param name="ReadBytes">Read by the guest since the VM started.</param>
/// <param name="WrittenBytes">Written by the guest since the VM started.</param>
public sealed record WorkloadDiskMetrics(string Name, ulong ProvisionedBytes, ulong UsedBytes, string Format, ulong ReadBytes, ulong WrittenBytes);
