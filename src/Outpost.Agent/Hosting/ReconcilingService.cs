using Microsoft.Extensions.Logging;
using Outpost.Agent.Bus;

namespace Outpost.Agent.Hosting;

/// <summary>
/// A level-triggered subsystem: it runs a pass whenever a topic it watches changes, when one of its own workers
/// finishes, and at least every <see cref="PollInterval"/> (things nobody signals: an app that exited, console
/// output, a retry that came due). A pass compares desired with observed state and moves each object one step.
/// </summary>
public abstract class ReconcilingService(AgentHealth health, TimeProvider time, ILogger logger) : SupervisedService(health, time, logger)
{
    private Watch? _watch;

    /// <summary>The topics whose changes call for a pass.</summary>
    protected abstract IReadOnlyList<ITopic> Watched { get; }

    protected abstract TimeSpan PollInterval { get; }

    /// <summary>One pass over every object of the subsystem. It must not wait for slow steps: those run on workers.</summary>
    protected abstract Task ReconcileAsync(CancellationToken cancellationToken);

    /// <summary>Asks for another pass soon.</summary>
    public void Wake() => _watch?.Signal();

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        using var watch = StateBus.Watch([.. Watched]);
        _watch = watch;
        try
        {
            while (true)
            {
                await ReconcileAsync(stoppingToken).ConfigureAwait(false);
                await watch.WaitAsync(PollInterval, Time, stoppingToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _watch = null;
        }
    }
}
