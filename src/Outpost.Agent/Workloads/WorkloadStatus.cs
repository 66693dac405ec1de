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
    /// <summary>
    /// The workload was started in an earlier boot of the host: whatever ran then was lost when the host restarted
    /// (a reboot or a power cut), so it is down without having exited by itself.
    /// </summary>
    public bool FromPreviousBoot { get; init; }

    public static WorkloadStatus NotFound(string id) => new(id, WorkloadState.NotFound, null, null, null, null, []);
}
