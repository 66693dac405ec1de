using Microsoft.Extensions.Logging;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Outbox;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Apps;

/// <summary>
/// Runs content → volumes → apps → console logs as one level-triggered loop: each pass reads the current desired
/// state and every reconciler moves its objects one step. A pass runs when the config changes, when a download
/// moves, and at least every <see cref="AppRuntimeOptions.PollInterval"/> (exits, console output, metrics).
/// Directories: STATE/content (OCI store), STATE/volumes, STATE/apps, STATE/workloads (runtime).
/// </summary>
public sealed partial class AppPipeline : IAsyncDisposable
{
    private readonly Func<DesiredState> _desired;
    private readonly AppRuntimeOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public AppPipeline(
        string stateDirectory,
        Func<DesiredState> desired,
        PersistentOutbox outbox,
        Func<string> deviceUuid,
        AppRuntimeOptions options,
        TimeProvider time,
        ILoggerFactory loggers,
        IWorkloadDriver? driver = null)
    {
        _desired = desired;
        _options = options;
        _time = time;
        _logger = loggers.CreateLogger<AppPipeline>();
        Publisher = new ObjectInfoPublisher(outbox, deviceUuid, time);
        Content = new ContentReconciler(Path.Combine(stateDirectory, "content"), options.Content, Publisher, time, loggers);
        Content.Changed += Wake;
        Volumes = new VolumeReconciler(Path.Combine(stateDirectory, "volumes"), Content, Publisher, time, loggers.CreateLogger<VolumeReconciler>());
        string? unavailable = null;
        if (driver is null)
        {
            try
            {
                driver = new RuncDriver(new RuncDriverOptions(Path.Combine(stateDirectory, "workloads")) { RuncPath = options.RuncPath ?? "runc" });
            }
            catch (WorkloadRuntimeException e)
            {
                unavailable = e.Message;
                LogNoRuntime(_logger, e.Message);
            }
        }

        Apps = new AppReconciler(Path.Combine(stateDirectory, "apps"), driver, unavailable, options, Publisher, time, loggers.CreateLogger<AppReconciler>());
        if (driver is RuncDriver runc)
        {
            Console = new AppConsoleShipper(Apps, runc.ReadConsoleAsync, outbox, time);
        }
    }

    public ObjectInfoPublisher Publisher { get; }

    public ContentReconciler Content { get; }

    public VolumeReconciler Volumes { get; }

    public AppReconciler Apps { get; }

    public AppConsoleShipper? Console { get; }

    /// <summary>Runs a pass soon (config changed, download moved).</summary>
    public void Wake()
    {
        lock (_gate)
        {
            _wake.TrySetResult();
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Task wake;
            lock (_gate)
            {
                if (_wake.Task.IsCompleted)
                {
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                wake = _wake.Task;
            }

            try
            {
                await ReconcileOnceAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A bug in one pass must not end app management; the next pass starts from what is observed.
                LogPassFailed(_logger, e);
            }

            using var stopDelay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await Task.WhenAny(wake, Task.Delay(_options.PollInterval, _time, stopDelay.Token)).ConfigureAwait(false);
            await stopDelay.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>One pass over every subsystem.</summary>
    public async Task ReconcileOnceAsync(CancellationToken cancellationToken)
    {
        var desired = _desired();
        await Content.ReconcileAsync(desired, cancellationToken).ConfigureAwait(false);
        await Volumes.ReconcileAsync(desired, Apps.VolumesInUse(), cancellationToken).ConfigureAwait(false);
        await Apps.ReconcileAsync(desired, Volumes.Statuses, cancellationToken).ConfigureAwait(false);
        if (Console is not null)
        {
            await Console.ShipAsync(desired, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => Content.DisposeAsync();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Apps cannot run on this host: {Reason}")]
    private static partial void LogNoRuntime(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "An app reconcile pass failed")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);
}
