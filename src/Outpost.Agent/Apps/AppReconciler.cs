using System.Globalization;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Metrics;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads;

namespace Outpost.Agent.Apps;

/// <summary>
/// Converges the workloads on this host with the config's app instances, one step per app per pass:
/// prepare → start → RUNNING; activate=false → stop → HALTED; a new restart counter restarts; a new purge counter
/// (or a recreated root volume) deletes the workload with its writable layer and prepares it again. Workloads of
/// apps that left the config are stopped and deleted. Nothing is stopped because the agent restarted: a running
/// workload whose counters match what app.json recorded is simply adopted. An app that exits stays HALTED (or
/// ERROR with its exit code) until the controller restarts, purges or re-activates it; a failed driver step is
/// retried with backoff. Every failure is confined to its own app.
/// </summary>
public sealed partial class AppReconciler(
    string appsDirectory,
    IWorkloadDriver? driver,
    string? driverUnavailableReason,
    AppRuntimeOptions options,
    ObjectInfoPublisher publisher,
    TimeProvider time,
    ILogger<AppReconciler> logger)
{
    private const string RecordFileName = "app.json";

    private readonly Dictionary<string, AppStatus> _statuses = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Retry> _retries = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _metricsGate = new();
    private List<appMetric> _metrics = [];
    private bool _orphansChecked;

    public IReadOnlyDictionary<string, AppStatus> Statuses => new Dictionary<string, AppStatus>(_statuses, StringComparer.OrdinalIgnoreCase);

    public IWorkloadDriver? Driver => driver;

    /// <summary>Per-app metrics from the last pass, for ZMetricMsg.am.</summary>
    public IReadOnlyList<appMetric> Metrics
    {
        get
        {
            lock (_metricsGate)
            {
                return _metrics;
            }
        }
    }

    /// <summary>Volume directories the prepared workloads run on; the volume reconciler leaves them alone.</summary>
    public IReadOnlySet<string> VolumesInUse()
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(appsDirectory))
        {
            foreach (var dir in Directory.EnumerateDirectories(appsDirectory))
            {
                if (AppRecord.Load(Path.Combine(dir, RecordFileName)).PreparedRootfs is { } rootfs)
                {
                    result.Add(rootfs);
                }
            }
        }

        return result;
    }

    internal string RecordPath(string uuid) => Path.Combine(AppDirectory(uuid), RecordFileName);

    internal string AppDirectory(string uuid) => Path.Combine(appsDirectory, uuid.ToLowerInvariant());

    public async Task ReconcileAsync(DesiredState desired, IReadOnlyDictionary<string, VolumeStatus> volumes, CancellationToken cancellationToken)
    {
        var metrics = new List<appMetric>();
        foreach (var app in desired.Apps.Values)
        {
            AppStatus status;
            try
            {
                status = await ReconcileAppAsync(app, volumes, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WorkloadException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                status = Failed(app, e.Message);
            }

            _statuses[app.Uuid] = status;
            publisher.Publish(status.ToInfo());
            if (status.State == ZSwState.Running && driver is not null)
            {
                metrics.Add(await MetricFor(app, status, cancellationToken).ConfigureAwait(false));
            }
        }

        lock (_metricsGate)
        {
            _metrics = metrics;
        }

        await RemoveUnwantedAsync(desired, cancellationToken).ConfigureAwait(false);
    }

    private async Task<AppStatus> ReconcileAppAsync(AppSpec app, IReadOnlyDictionary<string, VolumeStatus> volumes, CancellationToken cancellationToken)
    {
        var status = new AppStatus(app.Uuid, app.Version, app.DisplayName, ZSwState.Initial, app.Volumes.Select(v => v.Uuid).ToList());
        var previous = _statuses.GetValueOrDefault(app.Uuid);
        if (driver is null)
        {
            return Failed(app, driverUnavailableReason ?? "No container runtime is available on this device.");
        }

        if (app.UserData.Error is { } userDataError)
        {
            return Failed(app, userDataError);
        }

        if (app.Volumes.Count == 0)
        {
            return Failed(app, $"App {app.DisplayName} has no volume; its first volume is its root filesystem.");
        }

        var recordPath = RecordPath(app.Uuid);
        var record = AppRecord.Load(recordPath);
        var observed = await driver.GetStatusAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
        var root = volumes.GetValueOrDefault(app.Volumes[0].Uuid);

        // A purge (or a new root volume generation) takes the old workload down before the new volume is ready.
        var purge = record.PurgeCounter != app.PurgeCounter && observed.State != WorkloadState.NotFound;
        var staleRootfs = root is { IsCreated: true } && record.PreparedRootfs is not null && record.PreparedRootfs != root.RootfsPath
            && observed.State != WorkloadState.NotFound;
        if (purge || staleRootfs)
        {
            publisher.Publish((status with { State = ZSwState.Purging }).ToInfo());
            await driver.StopAsync(app.Uuid, options.StopGrace, cancellationToken).ConfigureAwait(false);
            await driver.DeleteAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
            record = record with { PreparedRootfs = null, ConsoleOffset = 0 };
            record.Save(recordPath);
            LogPurged(logger, app.Uuid);
            observed = WorkloadStatus.NotFound(app.Uuid);
        }

        if (observed.State == WorkloadState.NotFound && (root is null || !root.IsCreated))
        {
            // Waiting for the root volume: show its download or creation, or its error.
            return root is null
                ? Failed(app, $"Volume {app.Volumes[0].Uuid} of app {app.DisplayName} is not in the device config.")
                : status with { State = root.State == ZSwState.Error ? ZSwState.Error : root.State, Error = root.Error };
        }

        var token = string.Create(CultureInfo.InvariantCulture, $"{app.RestartCounter}.{app.PurgeCounter}.{record.ActivationEpoch}");
        if (!app.Activate)
        {
            if (observed.State is WorkloadState.Running or WorkloadState.Created)
            {
                publisher.Publish((status with { State = ZSwState.Halting }).ToInfo());
                await driver.StopAsync(app.Uuid, options.StopGrace, cancellationToken).ConfigureAwait(false);
                LogHalted(logger, app.Uuid);
            }

            if (!record.Halted)
            {
                record = record with { Halted = true };
                record.Save(recordPath);
            }

            return status with { State = ZSwState.Halted };
        }

        if (record.Halted)
        {
            record = record with { Halted = false, ActivationEpoch = record.ActivationEpoch + 1 };
            record.Save(recordPath);
            token = string.Create(CultureInfo.InvariantCulture, $"{app.RestartCounter}.{app.PurgeCounter}.{record.ActivationEpoch}");
        }

        if (!RetryDue(app.Uuid))
        {
            return previous ?? status with { State = ZSwState.Error };
        }

        if (observed.State == WorkloadState.NotFound)
        {
            var spec = AppWorkloadSpec.Build(app, root!, Path.Combine(AppDirectory(app.Uuid), "writable"));
            await driver.PrepareAsync(spec, cancellationToken).ConfigureAwait(false);
            record = record with { PreparedRootfs = root!.RootfsPath, PurgeCounter = app.PurgeCounter, ConsoleOffset = 0, StartedToken = null };
            record.Save(recordPath);
            publisher.Publish((status with { State = ZSwState.Installed }).ToInfo());
            observed = await driver.GetStatusAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
        }

        switch (observed.State)
        {
            case WorkloadState.Running when record.StartedToken == token:
                _retries.Remove(app.Uuid);
                return Running(status, observed);
            case WorkloadState.Running:
                // The token is saved first: should the agent die mid-restart, the next run starts the app rather than restarting it again.
                publisher.Publish((status with { State = ZSwState.Restarting }).ToInfo());
                record = record with { StartedToken = token };
                record.Save(recordPath);
                await driver.StopAsync(app.Uuid, options.StopGrace, cancellationToken).ConfigureAwait(false);
                await driver.StartAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
                LogRestarted(logger, app.Uuid);
                return Running(status, await driver.GetStatusAsync(app.Uuid, cancellationToken).ConfigureAwait(false));
            case WorkloadState.Stopped when record.StartedToken == token:
                // It ended by itself; it stays down until the controller restarts, purges or re-activates it.
                return observed.ExitCode is null or 0
                    ? status with { State = ZSwState.Halted, BootTime = observed.StartedAt }
                    : status with
                    {
                        State = ZSwState.Error,
                        BootTime = observed.StartedAt,
                        Error = ObjectError.Since(previous?.Error, $"App {app.DisplayName} exited with code {observed.ExitCode}.", time.GetUtcNow()),
                    };
            default:
                publisher.Publish((status with { State = ZSwState.Booting }).ToInfo());
                record = record with { StartedToken = token };
                record.Save(recordPath);
                try
                {
                    await driver.StartAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
                }
                catch (WorkloadException e)
                {
                    ScheduleRetry(app.Uuid);
                    return Failed(app, $"App {app.DisplayName} did not start: {e.Message}");
                }

                LogStarted(logger, app.Uuid);
                return Running(status, await driver.GetStatusAsync(app.Uuid, cancellationToken).ConfigureAwait(false));
        }

        AppStatus Failed(AppSpec a, string description) => this.Failed(a, description);
    }

    private AppStatus Running(AppStatus status, WorkloadStatus observed)
    {
        if (observed.State is not (WorkloadState.Running or WorkloadState.Created))
        {
            // It exited at once; the next pass reports how.
            return status with { State = ZSwState.Booting, BootTime = observed.StartedAt };
        }

        var previous = _statuses.GetValueOrDefault(status.Uuid)?.Warnings ?? [];
        var warnings = observed.Warnings
            .Select(w => ObjectError.Since(previous.FirstOrDefault(p => p.Description == w), w, time.GetUtcNow(), Severity.Warning))
            .ToList();
        return status with { State = ZSwState.Running, BootTime = observed.StartedAt, Pid = observed.Pid, Warnings = warnings };
    }

    private AppStatus Failed(AppSpec app, string description)
    {
        var previous = _statuses.GetValueOrDefault(app.Uuid);
        if (previous?.Error?.Description != description)
        {
            LogFailed(logger, app.Uuid, description);
        }

        return new AppStatus(app.Uuid, app.Version, app.DisplayName, ZSwState.Error, app.Volumes.Select(v => v.Uuid).ToList(),
            Error: ObjectError.Since(previous?.Error, description, time.GetUtcNow()));
    }

    private bool RetryDue(string uuid) => !_retries.TryGetValue(uuid, out var retry) || time.GetUtcNow() >= retry.NotBefore;

    private void ScheduleRetry(string uuid)
    {
        var retry = _retries.GetValueOrDefault(uuid);
        var delay = retry is null ? options.RetryFirst : TimeSpan.FromTicks(Math.Min(options.RetryMax.Ticks, retry.Delay.Ticks * 2));
        _retries[uuid] = new Retry(time.GetUtcNow() + delay, delay);
    }

    private async Task<appMetric> MetricFor(AppSpec app, AppStatus status, CancellationToken cancellationToken)
    {
        const ulong Mb = 1024 * 1024;
        var metric = new appMetric { AppID = app.Uuid, AppName = app.DisplayName, AppVersion = app.Version };
        var usage = await driver!.GetMetricsAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
        var allocated = app.MemoryKiB > 0 ? app.MemoryKiB * 1024 : usage?.MemoryLimitBytes ?? 0;
        metric.Cpu = new appCpuMetric
        {
            Total = (usage?.CpuNanoseconds ?? 0) / 1_000_000_000,
            TotalNs = usage?.CpuNanoseconds ?? 0,
        };
        if (status.BootTime is { } boot)
        {
            // As in EVE, upTime carries the time since boot as a duration from the epoch.
            metric.Cpu.UpTime = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch + (time.GetUtcNow() - boot));
        }

        var used = usage?.MemoryUsedBytes ?? 0;
        metric.Memory = new memoryMetric
        {
            UsedMem = (uint)(used / Mb),
            AvailMem = (uint)(allocated > used ? (allocated - used) / Mb : 0),
            UsedPercentage = allocated == 0 ? 0 : 100.0 * used / allocated,
            AvailPercentage = allocated == 0 ? 0 : 100.0 * (allocated > used ? allocated - used : 0) / allocated,
        };
        metric.AppMemory = new AppMemoryMetric { AllocatedMB = (uint)(allocated / Mb), UsedMB = (uint)(used / Mb) };
        return metric;
    }

    private async Task RemoveUnwantedAsync(DesiredState desired, CancellationToken cancellationToken)
    {
        var known = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (Directory.Exists(appsDirectory))
        {
            known.UnionWith(Directory.EnumerateDirectories(appsDirectory).Select(d => Path.GetFileName(d)));
        }

        known.UnionWith(_statuses.Keys);
        if (driver is not null && !_orphansChecked)
        {
            // Once per agent run: workloads left by apps deleted while the agent was down.
            known.UnionWith(await driver.ListAsync(cancellationToken).ConfigureAwait(false));
            _orphansChecked = true;
        }

        foreach (var uuid in known.Where(u => !desired.Apps.ContainsKey(u)))
        {
            try
            {
                if (driver is not null)
                {
                    await driver.StopAsync(uuid, options.StopGrace, cancellationToken).ConfigureAwait(false);
                    await driver.DeleteAsync(uuid, cancellationToken).ConfigureAwait(false);
                }

                if (Directory.Exists(AppDirectory(uuid)))
                {
                    Directory.Delete(AppDirectory(uuid), recursive: true);
                }

                _statuses.Remove(uuid);
                _retries.Remove(uuid);
                publisher.Publish(new ZInfoApp { AppID = uuid });
                LogRemoved(logger, uuid);
            }
            catch (Exception e) when (e is WorkloadException or IOException or UnauthorizedAccessException)
            {
                LogRemoveFailed(logger, uuid, e.Message);
            }
        }
    }

    private sealed record Retry(DateTimeOffset NotBefore, TimeSpan Delay);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} started")]
    private static partial void LogStarted(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} restarted")]
    private static partial void LogRestarted(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} halted")]
    private static partial void LogHalted(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} purged: workload and writable layer deleted")]
    private static partial void LogPurged(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} removed")]
    private static partial void LogRemoved(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "App {Uuid}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string uuid, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove app {Uuid}: {Reason}")]
    private static partial void LogRemoveFailed(ILogger logger, string uuid, string reason);
}
