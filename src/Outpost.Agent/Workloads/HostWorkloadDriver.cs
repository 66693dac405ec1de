using System.Runtime.CompilerServices;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Api.Consoles;

namespace Outpost.Agent.Workloads;

/// <summary>
/// Every workload on the host behind one <see cref="IWorkloadDriver"/>: a spec with a VM part goes to the QEMU driver,
/// any other to runc, and from then on each id goes to the driver that holds it. The app subsystem stays the same for
/// containers and VMs, with one lifecycle, one restart policy and one console pipeline. A runtime this host lacks
/// refuses only the workloads that need it, with its reason.
/// </summary>
public sealed class HostWorkloadDriver(IWorkloadDriver? containers, string? containersUnavailable, QemuDriver? vms, string? vmsUnavailable)
    : IWorkloadDriver
{
    public string Kind => string.Join("+", new[] { Containers?.Kind, Vms?.Kind }.OfType<string>());

    public IWorkloadDriver? Containers { get; } = containers;

    public QemuDriver? Vms { get; } = vms;

    public Task PrepareAsync(WorkloadSpec spec, CancellationToken cancellationToken) =>
        spec.Vm is null
            ? (Containers ?? throw Unavailable("container", containersUnavailable)).PrepareAsync(spec, cancellationToken)
            : (Vms ?? throw Unavailable("VM", vmsUnavailable)).PrepareAsync(spec, cancellationToken);

    public Task StartAsync(string id, CancellationToken cancellationToken) => For(id).StartAsync(id, cancellationToken);

    public Task StopAsync(string id, TimeSpan grace, CancellationToken cancellationToken) => For(id).StopAsync(id, grace, cancellationToken);

    public Task RestartAsync(string id, TimeSpan grace, CancellationToken cancellationToken) => For(id).RestartAsync(id, grace, cancellationToken);

    public Task DeleteAsync(string id, CancellationToken cancellationToken) => For(id).DeleteAsync(id, cancellationToken);

    public Task<WorkloadStatus> GetStatusAsync(string id, CancellationToken cancellationToken) =>
        Holder(id) is { } driver ? driver.GetStatusAsync(id, cancellationToken) : Task.FromResult(WorkloadStatus.NotFound(id));

    public Task<WorkloadMetrics?> GetMetricsAsync(string id, CancellationToken cancellationToken) =>
        Holder(id) is { } driver ? driver.GetMetricsAsync(id, cancellationToken) : Task.FromResult<WorkloadMetrics?>(null);

    public async Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var driver in new[] { Containers, Vms }.OfType<IWorkloadDriver>())
        {
            ids.UnionWith(await driver.ListAsync(cancellationToken).ConfigureAwait(false));
        }

        return [.. ids];
    }

    public async IAsyncEnumerable<ConsoleChunk> ReadConsoleAsync(string id, long fromOffset, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var driver = Holder(id) ?? throw new WorkloadNotFoundException(id);
        await foreach (var chunk in driver.ReadConsoleAsync(id, fromOffset, cancellationToken).ConfigureAwait(false))
        {
            yield return chunk;
        }
    }

    public Task<Stream?> OpenInteractiveConsoleAsync(string id, ConsoleKind kind, CancellationToken cancellationToken) =>
        Holder(id) is { } driver ? driver.OpenInteractiveConsoleAsync(id, kind, cancellationToken) : Task.FromResult<Stream?>(null);

    /// <summary>The driver that holds <paramref name="id"/>; for an id neither holds, the one that answers "not found".</summary>
    private IWorkloadDriver For(string id) =>
        Holder(id) ?? Containers ?? Vms ?? throw Unavailable("any", containersUnavailable);

    private IWorkloadDriver? Holder(string id) =>
        Vms is not null && Vms.Holds(id) ? Vms : Containers;

    private static WorkloadRuntimeException Unavailable(string what, string? reason) =>
        new($"This device cannot run {what} apps: {reason ?? "no runtime for them is installed"}");
}
