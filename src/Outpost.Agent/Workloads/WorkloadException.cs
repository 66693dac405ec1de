namespace Outpost.Agent.Workloads;

/// <summary>Base for every failure a workload driver reports; the message says what happened and what to do.</summary>
public class WorkloadException : Exception
{
    public WorkloadException(string message)
        : base(message)
    {
    }

    public WorkloadException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The spec cannot work as written (missing rootfs, unknown user, no command...).</summary>
public sealed class WorkloadSpecException(string message) : WorkloadException(message);

/// <summary>The id names no prepared workload.</summary>
public sealed class WorkloadNotFoundException(string id)
    : WorkloadException($"No workload with id '{id}' is prepared on this host; call PrepareAsync first.");

/// <summary>The host cannot run workloads (runtime missing, not root) or the runtime failed.</summary>
public sealed class WorkloadRuntimeException : WorkloadException
{
    public WorkloadRuntimeException(string message)
        : base(message)
    {
    }

    public WorkloadRuntimeException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
