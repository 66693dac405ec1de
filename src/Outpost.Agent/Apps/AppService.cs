using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Metrics;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Hosting;
using Outpost.Agent.Node;
using Outpost.Agent.Timing;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads;

namespace Outpost.Agent.Apps;

/// <summary>
/// The app subsystem: converges the workloads on this host with the config's app instances and publishes an
/// <see cref="AppStatus"/> per app, an <see cref="AppInventory"/> for the host and app metrics. Each app is moved one
/// step per pass on its own worker, so a slow stop or start of one app never holds up another:
/// prepare → start → RUNNING; activate=false → stop → HALTED; a new restart counter restarts; a new purge counter (or
/// a recreated root volume) deletes the workload with its writable layer and prepares it again. A workload that ended
/// by itself is started again per the app's restart policy (default always) with a growing delay while it keeps
/// ending; a workload lost to a reboot or power cut is started again at once, with the same identity and volumes.
/// Nothing is stopped because the agent restarted: a running workload whose counters match is adopted. Workloads of
/// apps that left the config are stopped and deleted. Every failure is confined to its own app.
/// </summary>
public sealed partial class AppService : ReconcilingService
{
    private const string RecordFileName = "app.json";

    private readonly StateBus _bus;
    private readonly IWorkloadDriver? _driver;
    private readonly string? _driverUnavailable;
    private readonly string _appsDirectory;
    private readonly AppRuntimeOptions _options;
    private readonly AgentOptions _agent;
    private readonly ILogger _logger;
    private readonly ObjectWorkers _workers;
    private readonly Lock _gate = new();
    private readonly Lock _ioGate = new();
    private readonly Dictionary<string, AppRecord> _records = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Delay> _retries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Delay> _restartDelays = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastMetrics = new(StringComparer.Ordinal);
    private IReadOnlySet<string>? _orphans;

    public AppService(StateBus bus, WorkloadRuntime runtime, AgentOptions options, AgentHealth health, ILogger<AppService> logger)
        : base(health, options.TimeProvider, logger)
    {
        _bus = bus;
        _driver = runtime.Driver;
        _driverUnavailable = runtime.UnavailableReason;
        _appsDirectory = Path.Combine(options.StateDir, "apps");
        _options = options.Apps;
        _agent = options;
        _logger = logger;
        _workers = new ObjectWorkers(Wake);
    }

    /// <summary>Resolves VM adapters against the host; tests point it at a fake /dev and /sys.</summary>
    internal IoAssignment Io { get; init; } = new();

    protected override IReadOnlyList<ITopic> Watched =>
        [_bus.Topic<DeviceDesired>(), _bus.Topic<AppSpec>(), _bus.Topic<VolumeStatus>(), _bus.Topic<NodeIntent>(), _bus.Topic<PhysicalIoSpec>()];

    protected override TimeSpan PollInterval => _options.PollInterval;

    private Topic<AppStatus> Statuses => _bus.Topic<AppStatus>();

    protected override async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        if (_bus.Topic<DeviceDesired>().Get(DeviceDesired.SingletonKey) is not { } device)
        {
            // No config yet (not even the saved one): every workload on the host would look unwanted.
            return;
        }

        var apps = _bus.Topic<AppSpec>().Current;
        var volumes = _bus.Topic<VolumeStatus>().Current;
        var halt = _bus.Topic<NodeIntent>().Get(NodeIntent.SingletonKey)?.HaltApps ?? false;
        foreach (var app in apps.Values)
        {
            _workers.TryStart(app.Uuid, ct => ReconcileAppAsync(app, volumes, halt, device.Settings.MetricInterval, ct),
                e => Publish(Failed(app, $"App {app.DisplayName} could not be managed: {e.Message}")));
        }

        _orphans ??= await FindWorkloadsAsync(cancellationToken).ConfigureAwait(false);
        foreach (var uuid in Known().Where(u => !apps.ContainsKey(u)))
        {
            _workers.TryStart(uuid, ct => RemoveAsync(uuid, ct), e => LogRemoveFailed(_logger, uuid, e.Message));
        }

        PublishInventory(apps);
    }

    /// <summary>One step for one app; true when its status moved (the next step may be due at once).</summary>
    private async Task<bool> ReconcileAppAsync(AppSpec app, IReadOnlyDictionary<string, VolumeStatus> volumes, bool halt, TimeSpan metricInterval,
        CancellationToken cancellationToken)
    {
        AppStatus status;
        try
        {
            status = await StepAsync(app, volumes, halt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WorkloadException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            ScheduleRetry(app.Uuid);
            status = Failed(app, $"App {app.DisplayName}: {e.Message}");
        }

        var moved = Publish(status);
        if (status.State == ZSwState.Running && _driver is not null && MetricsDue(app.Uuid, metricInterval))
        {
            _bus.Topic<AppMetrics>().Publish(new AppMetrics(app.Uuid, await MetricFor(app, status, cancellationToken).ConfigureAwait(false)));
        }
        else if (status.State != ZSwState.Running)
        {
            _bus.Topic<AppMetrics>().Remove(app.Uuid);
        }

        return moved;
    }

    /// <summary>Moves one app one step towards its desired state and says where it now stands.</summary>
    private async Task<AppStatus> StepAsync(AppSpec app, IReadOnlyDictionary<string, VolumeStatus> volumes, bool halt, CancellationToken cancellationToken)
    {
        var driver = _driver;
        if (driver is null)
        {
            return Failed(app, _driverUnavailable ?? "No container runtime is available on this device.");
        }

        if (app.UserData.Error is { } userDataError)
        {
            return Failed(app, userDataError);
        }

        if (app.Volumes.Count == 0)
        {
            return Failed(app, $"App {app.DisplayName} has no volume; its first volume is its root filesystem.");
        }

        var status = Base(app);
        var record = Record(app.Uuid);
        var observed = await driver.GetStatusAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
        var root = volumes.GetValueOrDefault(app.Volumes[0].Uuid);

        // A purge (or a new root volume generation) takes the old workload down before the new volume is ready.
        var purge = record.PurgeCounter != app.PurgeCounter && observed.State != WorkloadState.NotFound;
        var staleRootfs = root is { IsCreated: true } && record.PreparedRootfs is not null && record.PreparedRootfs != RootOf(root)
            && observed.State != WorkloadState.NotFound;
        if (purge || staleRootfs)
        {
            Publish(status with { State = ZSwState.Purging });
            await driver.StopAsync(app.Uuid, _options.StopGrace, cancellationToken).ConfigureAwait(false);
            await driver.DeleteAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
            record = Save(app.Uuid, record with
            {
                PreparedRootfs = null,
                PreparedVolume = null,
                WorkloadGeneration = null,
                Restarts = 0,
                LastExitCode = null,
                LastExitRunStartedAt = null,
            });
            _restartDelays.TryRemove(app.Uuid, out _);
            LogPurged(_logger, app.Uuid);
            observed = WorkloadStatus.NotFound(app.Uuid);
        }

        if (observed.State == WorkloadState.NotFound && root is { IsCreated: true, IsDisk: true } && !AppWorkloadSpec.VmVolumesReady(app, volumes))
        {
            // A VM's disks all come first, in order: show the first one still on its way.
            var waiting = app.Volumes.Select(v => volumes.GetValueOrDefault(v.Uuid)).First(v => v is not { IsCreated: true });
            return waiting is null ? status with { State = ZSwState.Initial } : status with { State = waiting.State, Error = waiting.Error };
        }

        if (observed.State == WorkloadState.NotFound && root is not { IsCreated: true })
        {
            // Waiting for the root volume: show its download or creation, or its error.
            return root is null
                ? status with { State = ZSwState.Initial }
                : status with { State = root.State, Error = root.Error };
        }

        status = WithRecord(status, record);
        if (!app.Activate || halt)
        {
            if (observed.State is WorkloadState.Running or WorkloadState.Created)
            {
                Publish(status with { State = ZSwState.Halting });
                await driver.StopAsync(app.Uuid, _options.StopGrace, cancellationToken).ConfigureAwait(false);
                LogHalted(_logger, app.Uuid, halt ? "the device is shutting down or rebooting" : "the controller deactivated it");
            }

            // Only the controller's activate=false is remembered: a device-wide halt ends with the next boot.
            if (!app.Activate && !record.Halted)
            {
                record = Save(app.Uuid, record with { Halted = true });
            }

            return WithRecord(status, record) with { State = ZSwState.Halted };
        }

        if (record.Halted)
        {
            record = Save(app.Uuid, record with { Halted = false, ActivationEpoch = record.ActivationEpoch + 1 });
        }

        var token = string.Create(CultureInfo.InvariantCulture, $"{app.RestartCounter}.{app.PurgeCounter}.{record.ActivationEpoch}");
        if (!Due(_retries, app.Uuid))
        {
            return Statuses.Get(app.Uuid) ?? status with { State = ZSwState.Error };
        }

        if (observed.State == WorkloadState.NotFound)
        {
            WorkloadSpec spec;
            // One app at a time checks and takes hardware: two VMs prepared at once must not both get one adapter.
            lock (_ioGate)
            {
                var io = root!.IsDisk ? Io.Resolve(app, _bus.Topic<PhysicalIoSpec>().Current.Values.ToList(), IoOwners(app.Uuid)) : AssignedIo.None;
                spec = AppWorkloadSpec.Build(app, root, Path.Combine(AppDirectory(app.Uuid), "writable"), volumes, io);
                // Saved first: the volume subsystem must see this generation in use before the workload runs on it.
                record = Save(app.Uuid, record with
                {
                    PreparedRootfs = RootOf(root),
                    PreparedVolume = new VolumeUse(root.Uuid, root.GenerationCount),
                    PurgeCounter = app.PurgeCounter,
                    StartedToken = null,
                    WorkloadGeneration = Guid.NewGuid().ToString("N"),
                });
            }
            await driver.PrepareAsync(spec, cancellationToken).ConfigureAwait(false);
            status = WithRecord(status, record);
            Publish(status with { State = ZSwState.Installed });
            observed = await driver.GetStatusAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
        }

        switch (observed.State)
        {
            case WorkloadState.Running when record.StartedToken == token:
                _retries.TryRemove(app.Uuid, out _);
                return Running(status, observed);
            case WorkloadState.Running:
                // The token is saved first: should the agent die mid-restart, the next run starts the app rather than restarting it again.
                Publish(status with { State = ZSwState.Restarting });
                record = Save(app.Uuid, record with { StartedToken = token });
                await driver.RestartAsync(app.Uuid, _options.StopGrace, cancellationToken).ConfigureAwait(false);
                LogRestarted(_logger, app.Uuid);
                return Running(status, await driver.GetStatusAsync(app.Uuid, cancellationToken).ConfigureAwait(false));
            case WorkloadState.Stopped or WorkloadState.Error when observed.FromPreviousBoot:
                LogStartedAfterReboot(_logger, app.Uuid);
                return await StartAsync(app, status, record with { StartedToken = token }, cancellationToken).ConfigureAwait(false);
            case WorkloadState.Stopped or WorkloadState.Error when record.StartedToken == token:
                return await ExitedAsync(app, status, record, observed, cancellationToken).ConfigureAwait(false);
            default:
                return await StartAsync(app, status, record with { StartedToken = token }, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The workload ended by itself: the restart policy decides whether and when it runs again.</summary>
    private async Task<AppStatus> ExitedAsync(AppSpec app, AppStatus status, AppRecord record, WorkloadStatus observed, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        if (record.LastExitRunStartedAt != observed.StartedAt)
        {
            // A new exit: count it once and set the delay before the next start.
            record = Save(app.Uuid, record with { LastExitCode = observed.ExitCode, LastExitRunStartedAt = observed.StartedAt });
            var ranFor = observed.StartedAt is { } started ? now - started : TimeSpan.Zero;
            var previous = _restartDelays.GetValueOrDefault(app.Uuid);
            // A run that lasted long enough counts as healthy: the delay starts over.
            var delay = ExponentialBackoff.After(ranFor >= _options.RestartDelayReset ? null : previous?.Wait, _options.RestartDelayFirst, _options.RestartDelayMax);
            _restartDelays[app.Uuid] = new Delay(now + delay, delay);
            LogExited(_logger, app.Uuid, observed.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "unknown", app.RestartPolicy);
        }

        status = WithRecord(status, record) with { BootTime = observed.StartedAt };
        var failed = observed.ExitCode is not 0;
        var exit = observed.ExitCode is { } code ? $"exited with code {code}" : $"ended ({observed.Message ?? "no exit code was recorded"})";
        var restart = app.RestartPolicy == RestartPolicy.Always || (app.RestartPolicy == RestartPolicy.OnFailure && failed);
        if (!restart)
        {
            return failed
                ? status with { State = ZSwState.Error, Error = ObjectError.Since(Statuses.Get(app.Uuid)?.Error, $"App {app.DisplayName} {exit}.", now) }
                : status with { State = ZSwState.Halted };
        }

        var next = _restartDelays[app.Uuid];
        if (now < next.At)
        {
            // Waiting out the delay; the pass after it starts the app. The text names the time, so it does not change while waiting.
            var waiting = $"App {app.DisplayName} {exit}; its restart policy ({Describe(app.RestartPolicy)}) starts it again at {next.At.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ} (restart {record.Restarts + 1}).";
            return status with
            {
                State = ZSwState.Restarting,
                Error = ObjectError.Since(Statuses.Get(app.Uuid)?.Error, waiting, now, failed ? Org.Lfedge.Eve.Info.Severity.Error : Org.Lfedge.Eve.Info.Severity.Notice),
            };
        }

        record = record with { Restarts = record.Restarts + 1 };
        return await StartAsync(app, WithRecord(status, record), record, cancellationToken).ConfigureAwait(false);
    }

    private async Task<AppStatus> StartAsync(AppSpec app, AppStatus status, AppRecord record, CancellationToken cancellationToken)
    {
        record = Save(app.Uuid, record);
        status = WithRecord(status, record);
        Publish(status with { State = ZSwState.Booting });
        try
        {
            await _driver!.StartAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
        }
        catch (WorkloadException e)
        {
            ScheduleRetry(app.Uuid);
            return Failed(app, $"App {app.DisplayName} did not start: {e.Message}") with
            {
                VolumesInUse = status.VolumesInUse,
                WorkloadGeneration = status.WorkloadGeneration,
            };
        }

        LogStarted(_logger, app.Uuid);
        return Running(status, await _driver.GetStatusAsync(app.Uuid, cancellationToken).ConfigureAwait(false));
    }

    private AppStatus Running(AppStatus status, WorkloadStatus observed)
    {
        if (observed.State is not (WorkloadState.Running or WorkloadState.Created))
        {
            // It exited at once; the next pass reports how.
            return status with { State = ZSwState.Booting, BootTime = observed.StartedAt };
        }

        var now = Time.GetUtcNow();
        var previous = Statuses.Get(status.Uuid)?.Warnings ?? ValueList<ObjectError>.Empty;
        var warnings = observed.Warnings
            .Select(w => ObjectError.Since(previous.FirstOrDefault(p => p.Description == w), w, now, Org.Lfedge.Eve.Info.Severity.Warning))
            .ToList();
        if (status.Restarts > 0)
        {
            var restarted = $"Restarted {status.Restarts} time{(status.Restarts == 1 ? "" : "s")} by its restart policy; "
                + (status.LastExitCode is { } code ? $"the last exit code was {code}." : "the last exit code is unknown.");
            warnings.Add(ObjectError.Since(previous.FirstOrDefault(p => p.Description == restarted), restarted, now, Org.Lfedge.Eve.Info.Severity.Notice));
        }

        return status with { State = ZSwState.Running, BootTime = observed.StartedAt, Warnings = warnings };
    }

    private async Task RemoveAsync(string uuid, CancellationToken cancellationToken)
    {
        if (_driver is not null)
        {
            await _driver.StopAsync(uuid, _options.StopGrace, cancellationToken).ConfigureAwait(false);
            await _driver.DeleteAsync(uuid, cancellationToken).ConfigureAwait(false);
        }

        if (Directory.Exists(AppDirectory(uuid)))
        {
            Directory.Delete(AppDirectory(uuid), recursive: true);
        }

        lock (_gate)
        {
            _records.Remove(uuid);
            _orphans = _orphans?.Where(o => o != uuid).ToHashSet(StringComparer.Ordinal);
        }

        _retries.TryRemove(uuid, out _);
        _restartDelays.TryRemove(uuid, out _);
        _lastMetrics.TryRemove(uuid, out _);
        Statuses.Remove(uuid);
        _bus.Topic<AppMetrics>().Remove(uuid);
        LogRemoved(_logger, uuid);
    }

    /// <summary>Stops every workload (the agent is stopping and was asked to leave nothing running).</summary>
    public async Task StopAllAsync(CancellationToken cancellationToken)
    {
        if (_driver is null)
        {
            return;
        }

        var driver = _driver;
        await Task.WhenAll((await driver.ListAsync(cancellationToken).ConfigureAwait(false)).Select(async uuid =>
        {
            try
            {
                await driver.StopAsync(uuid, _options.StopGrace, cancellationToken).ConfigureAwait(false);
                LogHalted(_logger, uuid, "the agent is stopping and was told to stop its apps");
            }
            catch (WorkloadException e)
            {
                LogRemoveFailed(_logger, uuid, e.Message);
            }
        })).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        // Steps already under way finish (a half-done stop or start is worse than a slightly later exit).
        await _workers.DrainAsync(cancel: false).ConfigureAwait(false);
        if (_options.StopAppsOnExit)
        {
            await StopAllAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The host's inventory after this pass: what every prepared workload runs on and how many are active.</summary>
    private void PublishInventory(IReadOnlyDictionary<string, AppSpec> apps)
    {
        List<VolumeUse> uses;
        lock (_gate)
        {
            uses = Known().Select(u => _records.GetValueOrDefault(u)?.PreparedVolume ?? LoadRecord(u).PreparedVolume).OfType<VolumeUse>().Distinct().ToList();
        }

        var active = Statuses.Current.Values.Count(s => s.IsActive) + Known().Count(u => !apps.ContainsKey(u) && _workers.IsBusy(u));
        _bus.Topic<AppInventory>().Publish(new AppInventory(uses.OrderBy(u => u.Uuid, StringComparer.Ordinal).ThenBy(u => u.GenerationCount).ToValueList(),
            active, Complete: _orphans is not null));
    }

    /// <summary>Apps with a directory here, a status, or a workload the driver knows (found once per agent run).</summary>
    private IEnumerable<string> Known()
    {
        var known = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(_appsDirectory))
        {
            known.UnionWith(Directory.EnumerateDirectories(_appsDirectory).Select(d => Path.GetFileName(d)));
        }

        known.UnionWith(Statuses.Current.Keys);
        lock (_gate)
        {
            known.UnionWith(_orphans ?? new HashSet<string>());
        }

        return known;
    }

    private async Task<IReadOnlySet<string>> FindWorkloadsAsync(CancellationToken cancellationToken)
    {
        if (_driver is null)
        {
            return new HashSet<string>();
        }

        try
        {
            return (await _driver.ListAsync(cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        }
        catch (WorkloadException e)
        {
            LogRemoveFailed(_logger, "(all)", e.Message);
            return new HashSet<string>();
        }
    }

    private AppRecord Record(string uuid)
    {
        lock (_gate)
        {
            if (!_records.TryGetValue(uuid, out var record))
            {
                record = _records[uuid] = LoadRecord(uuid);
            }

            return record;
        }
    }

    private AppRecord LoadRecord(string uuid) => AppRecord.Load(Path.Combine(AppDirectory(uuid), RecordFileName));

    /// <summary>Which app holds each assignment group: every other app with a prepared workload keeps its adapters.</summary>
    private Dictionary<string, string> IoOwners(string exceptUuid)
    {
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var (uuid, held) in _records)
            {
                if (uuid != exceptUuid && held.WorkloadGeneration is not null && _bus.Topic<AppSpec>().Get(uuid) is { } other)
                {
                    foreach (var adapter in other.Vm.Adapters)
                    {
                        owners.TryAdd(adapter.Name, other.DisplayName);
                    }
                }
            }
        }

        return owners;
    }

    private AppRecord Save(string uuid, AppRecord record)
    {
        record.Save(Path.Combine(AppDirectory(uuid), RecordFileName));
        lock (_gate)
        {
            _records[uuid] = record;
        }

        return record;
    }

    /// <summary>The app's directory: its id was validated as a canonical UUID before it reached the bus.</summary>
    private string AppDirectory(string uuid) => Path.Combine(_appsDirectory, uuid);

    /// <summary>What the workload was prepared on: the root volume's files, or its disk image for a VM.</summary>
    private static string? RootOf(VolumeStatus root) => root.RootfsPath ?? root.DiskPath;

    private static AppStatus Base(AppSpec app) =>
        new(app.Uuid, app.Version, app.DisplayName, ZSwState.Initial, app.Volumes.Select(v => v.Uuid).ToValueList());

    private static AppStatus WithRecord(AppStatus status, AppRecord record) => status with
    {
        VolumesInUse = record.PreparedVolume is { } use ? new ValueList<VolumeUse>([use]) : ValueList<VolumeUse>.Empty,
        WorkloadGeneration = record.WorkloadGeneration,
        Restarts = record.Restarts,
        LastExitCode = record.LastExitCode,
    };

    private AppStatus Failed(AppSpec app, string description)
    {
        var previous = Statuses.Get(app.Uuid);
        if (previous?.Error?.Description != description)
        {
            LogFailed(_logger, app.Uuid, description);
        }

        return Base(app) with { State = ZSwState.Error, Error = ObjectError.Since(previous?.Error, description, Time.GetUtcNow()) };
    }

    /// <summary>Publishes the app's status; true when it differs from the one held.</summary>
    private bool Publish(AppStatus status) =>
        // An app removed from the config while its step ran must not come back on the bus.
        _bus.Topic<AppSpec>().Get(status.Uuid) is not null && Statuses.Publish(status);

    private bool Due(ConcurrentDictionary<string, Delay> delays, string uuid) =>
        !delays.TryGetValue(uuid, out var delay) || Time.GetUtcNow() >= delay.At;

    private void ScheduleRetry(string uuid)
    {
        var retry = _retries.GetValueOrDefault(uuid);
        var wait = ExponentialBackoff.After(retry?.Wait, _options.RetryFirst, _options.RetryMax);
        _retries[uuid] = new Delay(Time.GetUtcNow() + wait, wait);
    }

    // Per app, each call comes from that app's one worker: no two callers race for the same key.
    private bool MetricsDue(string uuid, TimeSpan interval)
    {
        var now = Time.GetUtcNow();
        // Sampled a little more often than reported, so every report carries a fresh sample.
        if (_lastMetrics.TryGetValue(uuid, out var last) && now - last < interval / 2)
        {
            return false;
        }

        _lastMetrics[uuid] = now;
        return true;
    }

    private async Task<appMetric> MetricFor(AppSpec app, AppStatus status, CancellationToken cancellationToken)
    {
        const ulong Mb = 1024 * 1024;
        var metric = new appMetric { AppID = app.Uuid, AppName = app.DisplayName, AppVersion = app.Version };
        var usage = await _driver!.GetMetricsAsync(app.Uuid, cancellationToken).ConfigureAwait(false);
        var allocated = app.MemoryKiB > 0 ? app.MemoryKiB * 1024 : usage?.MemoryLimitBytes ?? 0;
        metric.Cpu = new appCpuMetric
        {
            Total = (usage?.CpuNanoseconds ?? 0) / 1_000_000_000,
            TotalNs = usage?.CpuNanoseconds ?? 0,
        };
        if (status.BootTime is { } boot)
        {
            // As in EVE, upTime carries the time since boot as a duration from the epoch.
            metric.Cpu.UpTime = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch + (Time.GetUtcNow() - boot));
        }

        var used = usage?.MemoryUsedBytes ?? 0;
        metric.Memory = new memoryMetric
        {
            UsedMem = (uint)(used / Mb),
            AvailMem = (uint)(allocated > used ? (allocated - used) / Mb : 0),
            UsedPercentage = allocated == 0 ? 0 : 100.0 * used / allocated,
            AvailPercentage = allocated == 0 ? 0 : 100.0 * (allocated > used ? allocated - used : 0) / allocated,
        };
        metric.AppMemory = new AppMemoryMetric { AllocatedMB = (uint)((usage?.GuestMemoryBytes ?? allocated) / Mb), UsedMB = (uint)(used / Mb) };
        foreach (var disk in usage?.Disks ?? [])
        {
            // EVE's per-disk figures: size and host usage in MB; dirty once the guest has written to it.
            metric.Disk.Add(new appDiskMetric
            {
                Disk = disk.Name,
                Provisioned = disk.ProvisionedBytes / Mb,
                Used = disk.UsedBytes / Mb,
                DiskType = disk.Format,
                Dirty = disk.WrittenBytes > 0,
            });
        }

        return metric;
    }

    private static string Describe(RestartPolicy policy) => policy switch
    {
        RestartPolicy.OnFailure => "on-failure",
        RestartPolicy.Never => "never",
        _ => "always",
    };

    private sealed record Delay(DateTimeOffset At, TimeSpan Wait);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} started")]
    private static partial void LogStarted(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} was lost when the host restarted; starting it again")]
    private static partial void LogStartedAfterReboot(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} exited (code {ExitCode}); restart policy {Policy}")]
    private static partial void LogExited(ILogger logger, string uuid, string exitCode, RestartPolicy policy);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} restarted")]
    private static partial void LogRestarted(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} halted: {Why}")]
    private static partial void LogHalted(ILogger logger, string uuid, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} purged: workload and writable layer deleted")]
    private static partial void LogPurged(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {Uuid} removed")]
    private static partial void LogRemoved(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "App {Uuid}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string uuid, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove app {Uuid}: {Reason}")]
    private static partial void LogRemoveFailed(ILogger logger, string uuid, string reason);
}

/// <summary>One app's resource usage, sampled by the app subsystem for ZMetricMsg.am.</summary>
public sealed record AppMetrics(string Uuid, appMetric Metric) : IKeyed
{
    public string Key => Uuid;
}
