using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Workloads;

/// <summary>
/// The workload driver this host can offer, chosen once at start-up: runc when it is installed and the agent is
/// root, otherwise none, with the reason every app then reports.
/// </summary>
public sealed class WorkloadRuntime(IWorkloadDriver? driver, string? unavailableReason)
{
    public IWorkloadDriver? Driver { get; } = driver;

    public string? UnavailableReason { get; } = unavailableReason;

    public static WorkloadRuntime Detect(string stateDirectory, string? runcPath, string bootId)
    {
        try
        {
            return new WorkloadRuntime(new RuncDriver(new RuncDriverOptions(Path.Combine(stateDirectory, "workloads"))
            {
                RuncPath = runcPath ?? "runc",
                BootId = bootId,
            }), null);
        }
        catch (WorkloadRuntimeException e)
        {
            return new WorkloadRuntime(null, e.Message);
        }
    }
}
