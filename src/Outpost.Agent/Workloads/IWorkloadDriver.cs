using Outpost.Api.Consoles;

namespace Outpost.Agent.Workloads;

/// <summary>
/// The seam between the app subsystem and one runtime (runc for containers, QEMU for VMs): the only code that talks
/// to the runtime. Everything other subsystems need of a workload (its console, its metrics) comes through here.
/// Every method is idempotent so a level-triggered reconciler can call it again after a crash.
/// </summary>
public interface IWorkloadDriver
{
    /// <summary>Short runtime name, e.g. "runc" or "qemu".</summary>
    string Kind { get; }

    /// <summary>Lays out everything the workload needs on disk without starting it.</summary>
    Task PrepareAsync(WorkloadSpec spec, CancellationToken cancellationToken);

    Task StartAsync(string id, CancellationToken cancellationToken);

    /// <summary>Asks the workload to end (SIGTERM) and forces it (SIGKILL) once <paramref name="grace"/> has passed.</summary>
    Task StopAsync(string id, TimeSpan grace, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the workload as <see cref="StopAsync"/> would and runs it again; a VM may instead be reset in place when
    /// its guest does not power off in time (a machine's reset button), which keeps its QEMU and consoles.
    /// </summary>
    Task RestartAsync(string id, TimeSpan grace, CancellationToken cancellationToken);

    /// <summary>Removes the workload and its writable state; volumes are left alone.</summary>
    Task DeleteAsync(string id, CancellationToken cancellationToken);

    Task<WorkloadStatus> GetStatusAsync(string id, CancellationToken cancellationToken);

    /// <summary>Resource usage, or null when the workload is not running.</summary>
    Task<WorkloadMetrics?> GetMetricsAsync(string id, CancellationToken cancellationToken);

    /// <summary>Ids of every workload this driver knows on the host, so the agent can adopt them after a restart.</summary>
    Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The workload's console output from <paramref name="fromOffset"/> on, in chunks (see <see cref="ConsoleChunk"/>
    /// for how offsets survive rotation and resets). Throws <see cref="WorkloadNotFoundException"/> for an unknown id.
    /// </summary>
    IAsyncEnumerable<ConsoleChunk> ReadConsoleAsync(string id, long fromOffset, CancellationToken cancellationToken);

    /// <summary>
    /// Joins the workload's interactive console, for a remote-console session: its serial line, or its screen as VNC
    /// (RFB) bytes. Null when it has no such console (a container has neither, a VM without VNC no screen) or is not
    /// running. The caller owns the stream; several sessions may be open at once where the console allows it.
    /// </summary>
    Task<Stream?> OpenInteractiveConsoleAsync(string id, ConsoleKind kind, CancellationToken cancellationToken);
}
