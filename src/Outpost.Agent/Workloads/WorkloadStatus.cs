namespace Outpost.Agent.Workloads;

public enum WorkloadState
{
    NotFound,
    Created,
    Running,
    Stopped,
    Error,
}

/// <param name="Warnings">Things the host could not honour (e.g. a limit it cannot enforce); the workload runs anyway.</param>
public sealed record WorkloadStatus(
    string Id,
    WorkloadState State,
    int? ExitCode,
    int? Pid,
    DateTimeOffset? StartedAt,
    string? Message,
    IReadOnlyList<string> Warnings)
{
    public static WorkloadStatus NotFound(string id) => new(id, WorkloadState.NotFound, null, null, null, null, []);
}
