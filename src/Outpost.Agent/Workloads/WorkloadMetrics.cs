namespace Outpost.Agent.Workloads;

/// <param name="CpuNanoseconds">CPU time used since start, all CPUs together.</param>
/// <param name="MemoryUsedBytes">Memory in use without reclaimable page cache, the way `docker stats` counts it.</param>
/// <param name="MemoryLimitBytes">The enforced limit, or null when unlimited.</param>
public sealed record WorkloadMetrics(ulong CpuNanoseconds, ulong MemoryUsedBytes, ulong? MemoryLimitBytes);
