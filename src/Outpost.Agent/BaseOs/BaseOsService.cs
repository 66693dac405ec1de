using System.Text.Json;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Hosting;
using Outpost.Agent.Node;
using Outpost.Agent.Persistence;
using Outpost.Agent.Reporting;
using Outpost.Agent.Reporting.Slots;
using Outpost.Agent.Timing;
using Outpost.Agent.Uplink;
using Outpost.Disk;
using Outpost.Disk.Gpt;
using Outpost.Disk.Slots;

namespace Outpost.Agent.BaseOs;

/// <summary>
/// The BaseOs subsystem: EVE's baseosmgr + the update half of nodeagent, level-triggered. Each pass reads the GPT
/// (the truth about both slots) and moves one step: take in what the boot loader did (once per boot); on probation,
/// run the test window and commit, or reboot into the old slot when the controller stays away; otherwise, when the
/// config names another version, wait for the content subsystem to load it, verify it, install it into the other
/// slot (<see cref="SlotInstaller"/>) and ask for a reboot. A version that failed its window is not tried again
/// until the controller bumps the retry counter. Files: STATE/baseos/state.json.
/// </summary>
public sealed partial class BaseOsService : ReconcilingService
{
    private readonly StateBus _bus;
    private readonly OsImageSource _images;
    private readonly UplinkStatistics _uplink;
    private readonly AgentHealth _health;
    private readonly BaseOsOptions _options;
    private readonly string _runningVersion;
    private readonly string _statePath;
    private readonly string _stateDirectory;
    private readonly LocalOsImageFetcher _local;
    private readonly ILogger _logger;
    private readonly DateTimeOffset _bootedAt;
    private BaseOsRecord _record;
    private bool _bootReconciled;
    private string? _installError;
    private DateTimeOffset? _windowStart;
    private bool _rebootAsked;
    private TimeSpan? _installDelay;
    private DateTimeOffset _retryInstallAt;

    public BaseOsService(StateBus bus, ContentStore store, UplinkStatistics uplink, AgentOptions options, HostFacts host, AgentHealth health, ILogger<BaseOsService> logger)
        : base(health, options.TimeProvider, logger)
    {
        _bus = bus;
        _uplink = uplink;
        _health = health;
        _options = options.BaseOs;
        _logger = logger;
        _runningVersion = host.RunningVersion(options.AgentVersion);
        _images = new OsImageSource(store, options.ConfigDir);
        _statePath = LocalUpdateRequest.RecordPathIn(options.StateDir);
        _stateDirectory = options.StateDir;
        _local = new LocalOsImageFetcher(new HttpClient { Timeout = TimeSpan.FromMinutes(30) }, Path.Combine(options.StateDir, "baseos", "local"), _images);
        _record = ReadRecord();
        _bootedAt = options.TimeProvider.GetUtcNow();
        BootLabel = _options.BootLabel ?? host.BootPartitionLabel;
    }

    /// <summary>Null off an Outpost disk: there is nothing to update, and the subsystem only reports.</summary>
    private string? BootLabel { get; }

    protected override IReadOnlyList<ITopic> Watched => [_bus.Topic<DeviceDesired>(), _bus.Topic<ContentStatus>(), _bus.Topic<NodeStatus>()];

    protected override TimeSpan PollInterval => _options.PollInterval;

    private string Cmdline => EntryOptions(_options.Cmdline ?? TryRead("/proc/cmdline"));

    protected override async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        if (BootLabel is not { } booted || OpenDisk() is not { } disk)
            return;
        using var _ = disk;
        var slots = AbSlots.Open(disk);
        var other = AbSlots.OtherOf(booted);
        RememberRunning(booted);

        if (!_bootReconciled)
        {
            var state = slots.ReconcileAfterBoot(booted, Cmdline, VersionOf);
            _bootReconciled = true;
            LogBootState(_logger, booted, state.ToString(), other, slots.State(other).ToString());
        }

        var desired = _bus.Topic<DeviceDesired>().Get(DeviceDesired.SingletonKey);
        var spec = desired?.BaseOs;
        var settings = desired?.Settings ?? ConfigItemSettings.Defaults;
        var current = slots.State(booted);
        if (desired is not null)
        {
            // Only with a config: the failure is pinned to the retry counter the controller has now, and a device
            // without a saved config (its first pass comes before the first fetch) must not take "none" for 0.
            NoteFallback(slots, booted, other, spec);
            if (_record.CommitCounterSeen is null)
            {
                // EVE's counter rule from the first config on, so that a confirmation given during the first test window counts.
                Save(_record with { CommitCounterSeen = settings.CommitCounter });
            }
        }

        if (current == PartitionState.InProgress)
        {
            if (LocalUpdateRequest.Read(_stateDirectory) is { Action: LocalUpdateAction.Rollback } leave && leave.Id != _record.LocalRequestDone)
            {
                FinishLocal(leave, true, $"Leaving {VersionOf(booted)} on probation: rebooting into {VersionOf(other)} (local rollback)");
                AskReboot(BootReason.Fallback, $"Local rollback: leaving {VersionOf(booted)} on probation for {VersionOf(other)}");
            }
            else
            {
                Probation(slots, booted, other, settings);
            }
        }
        else if (current == PartitionState.Active)
        {
            if (await LocalAsync(slots, booted, other, cancellationToken).ConfigureAwait(false))
            {
                // A local update owns the other slot until it is booted: the controller's config does not undo it.
            }
            else if (desired is not null)
            {
                if (ForcedFallback(slots, other, settings, spec?.RetryCounter ?? 0))
                    return;
                await TowardsDesiredAsync(slots, booted, other, spec, cancellationToken).ConfigureAwait(false);
            }
        }

        Publish(slots, booted, other, spec, settings);
    }

    /// <summary>EVE's test window: starts when the controller is first reached in this boot; commit at its end.</summary>
    private void Probation(AbSlots slots, string booted, string other, ConfigItemSettings settings)
    {
        var now = Time.GetUtcNow();
        var lastContact = LastControllerContact();
        if (lastContact is { } contact && contact >= _bootedAt)
            _windowStart ??= contact;

        // A local update (EOS's os-update) has no controller to reach: the window is the agent being up and healthy.
        if (_record.Local)
            _windowStart ??= _bootedAt;
        var sinceContact = now - (lastContact is { } c && c >= _bootedAt ? c : _bootedAt);
        if (!_record.Local && sinceContact >= settings.FallbackNoNetwork)
        {
            AskReboot(BootReason.Fallback, $"No contact with the controller for {sinceContact.TotalSeconds:0} s while {VersionOf(booted)} was on probation: falling back to {VersionOf(other)}");
            return;
        }

        if (_health.Crashes.Count > 0)
        {
            AskReboot(BootReason.Fallback, $"Agent subsystems crashed while {VersionOf(booted)} was on probation ({string.Join(", ", _health.Crashes.Keys)}): falling back");
            return;
        }

        if (_windowStart is not { } start || now - start < settings.TestWindow)
            return;

        if (settings.ManualCommit && !CommitConfirmed(settings))
            return;

        slots.Commit(booted, VersionOf(booted), Cmdline);
        var version = VersionOf(booted);
        // A rollback's commit keeps the version it left marked failed, so the config that still names it does not reinstall it.
        Save(_record with { Pending = null, Failed = _record.ForcedFallback is null ? null : _record.Failed, Local = false, ForcedFallback = null, LastOutcome = $"Updated to {version}: it passed its {settings.TestWindow.TotalSeconds:0} s test window and was committed", CommitCounterSeen = settings.CommitCounter });
        LogCommitted(_logger, version, booted);
    }

    private bool CommitConfirmed(ConfigItemSettings settings)
    {
        if (_record.CommitCounterSeen is not { } seen)
        {
            Save(_record with { CommitCounterSeen = settings.CommitCounter });
            return false;
        }

        return seen != settings.CommitCounter;
    }

    /// <summary>force.fallback.counter: a change boots the previous version again, on probation like any update.</summary>
    private bool ForcedFallback(AbSlots slots, string other, ConfigItemSettings settings, uint retryCounter)
    {
        var counter = settings.ForceFallbackCounter;
        if (_record.ForceFallbackSeen is not { } seen)
        {
            Save(_record with { ForceFallbackSeen = counter });
            return false;
        }

        if (seen == counter)
            return false;
        Save(_record with { ForceFallbackSeen = counter });
        if (slots.State(other) != PartitionState.Unused || !_record.Slots.ContainsKey(other) || slots.Payload(other) is null)
        {
            LogForcedFallbackImpossible(_logger, other);
            return false;
        }

        slots.MarkUpdating(other, VersionOf(other), Cmdline);
        // As after a failed update: the version left behind is not installed again until the retry counter moves.
        var left = new FailedUpdate(_runningVersion, $"{_runningVersion} was rolled back by the operator (force.fallback.counter {counter})", retryCounter);
        Save(_record with { Pending = VersionOf(other), ForcedFallback = VersionOf(other), Failed = left, LastOutcome = $"Rolling back to {VersionOf(other)} (force.fallback.counter {counter})" });
        AskReboot(BootReason.Fallback, $"Forced fallback to {VersionOf(other)} (force.fallback.counter changed to {counter})");
        return true;
    }

    private async Task TowardsDesiredAsync(AbSlots slots, string booted, string other, BaseOsSpec? spec, CancellationToken cancellationToken)
    {
        var otherState = slots.State(other);
        if (otherState == PartitionState.Updating && _record.ForcedFallback is { } back && back == VersionOf(other))
        {
            // The operator's rollback waits to boot: the config (which still names what runs, or nothing) does not undo it.
            AskReboot(BootReason.Fallback, $"Rebooting into {back} on {other} (forced fallback)");
            return;
        }

        if (spec is null || spec.Version == _runningVersion)
        {
            // Deleting the BaseOS config (or asking for what runs) while the other slot waits to boot: stale, so unused.
            if (otherState == PartitionState.Updating)
            {
                slots.ResetToUnused(other);
                Save(_record with { Pending = null, LastOutcome = "The pending update was cancelled: the controller no longer asks for it" });
            }

            _installError = null;
            return;
        }

        if (_record.Failed is { } failed && failed.Version == spec.Version)
        {
            if (failed.RetryCounter == spec.RetryCounter)
                return;
            // The controller bumped the retry counter: try the same version again (the image is usually still there).
            Save(_record with { Failed = null });
            if (otherState == PartitionState.InProgress && _record.Slots.GetValueOrDefault(other)?.Version == spec.Version)
            {
                slots.MarkUpdating(other, spec.Version, Cmdline);
                Save(_record with { Pending = spec.Version });
                AskReboot(BootReason.Update, $"Retrying the update to {spec.Version} (retry counter {spec.RetryCounter})");
                return;
            }
        }

        if (otherState == PartitionState.Updating && _record.Slots.GetValueOrDefault(other)?.Version == spec.Version)
        {
            AskReboot(BootReason.Update, $"Rebooting into {spec.Version} on {other}");
            return;
        }

        if (!spec.Activate)
            return;
        if (_bus.Topic<ContentStatus>().Get(spec.ContentTreeUuid) is not { IsLoaded: true, ImageName: { } imageName })
            return;

        if (_installError is not null && Time.GetUtcNow() < _retryInstallAt)
            return;
        try
        {
            var image = await _images.OpenAsync(imageName, spec.Version, Cmdline, cancellationToken).ConfigureAwait(false);
            await InstallAsync(slots, booted, other, image, local: false, cancellationToken).ConfigureAwait(false);
            _installError = null;
            _installDelay = null;
        }
        catch (Exception e) when (IsInstallFailure(e))
        {
            _installError = e.Message;
            // A failing write or a refused image is tried again, but not on every pass: 10 s doubling to 10 min.
            _installDelay = ExponentialBackoff.After(_installDelay, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(10));
            _retryInstallAt = Time.GetUtcNow() + _installDelay.Value;
            Save(_record with { Pending = null, LastOutcome = $"The update to {spec.Version} failed: {e.Message}" });
            LogInstallFailed(_logger, spec.Version, e.Message);
        }
    }

    private static bool IsInstallFailure(Exception e) =>
        e is OsImageRefusedException or PartitionTooSmallException or PartitionVerificationException or SlotLayoutException or IOException or HttpRequestException;

    /// <summary>Both paths' install: the verified image into the other slot, the record kept honest at each step, then the reboot.</summary>
    private async Task InstallAsync(AbSlots slots, string booted, string other, VerifiedOsImage image, bool local, CancellationToken cancellationToken)
    {
        var version = image.Image.Version;
        // Forgotten on disk before the first write: a slot cut halfway must never pass for the version it held.
        var slotsBefore = new Dictionary<string, SlotContent>(_record.Slots, StringComparer.Ordinal);
        slotsBefore.Remove(other);
        Save(_record with { Pending = version, ForcedFallback = null, Local = false, Slots = slotsBefore });
        LogInstalling(_logger, version, other, image.RootfsBytes);
        var written = await SlotInstaller.InstallAsync(slots, booted, image.Image, null, cancellationToken).ConfigureAwait(false);
        var slotsNow = new Dictionary<string, SlotContent>(_record.Slots, StringComparer.Ordinal) { [other] = new SlotContent(version, image.RootfsSha256) };
        Save(_record with { Slots = slotsNow, Local = local, LastOutcome = $"{version} written to {other} ({written.BytesWritten} bytes, read back and verified); rebooting into it" });
        AskReboot(BootReason.Update, $"Rebooting into {version} on {other}");
    }

    /// <summary>
    /// Local mode (`outpost os update`): takes up STATE/baseos/local-request.json. True while a local update owns the
    /// other slot (written, waiting to boot), so the controller's config neither resets nor overwrites it.
    /// </summary>
    private async Task<bool> LocalAsync(AbSlots slots, string booted, string other, CancellationToken cancellationToken)
    {
        var otherState = slots.State(other);
        if (_record.Local && otherState == PartitionState.Updating)
        {
            AskReboot(BootReason.Update, $"Rebooting into {VersionOf(other)} on {other} (local update)");
            return true;
        }

        if (LocalUpdateRequest.Read(_stateDirectory) is not { } request)
            return false;
        if (request.Id == _record.LocalRequestDone)
        {
            LocalUpdateRequest.Remove(_stateDirectory);
            return false;
        }

        if (request.Action == LocalUpdateAction.Rollback)
        {
            if (otherState != PartitionState.Unused || VersionOf(other).Length == 0 || slots.Payload(other) is null)
            {
                FinishLocal(request, false, $"Nothing to roll back to: {other} holds no previous version");
                return false;
            }

            var back = VersionOf(other);
            slots.MarkUpdating(other, back, Cmdline);
            Save(_record with { Pending = back, ForcedFallback = back, Local = true });
            FinishLocal(request, true, $"Rolling back to {back} on {other} (local request); rebooting into it");
            AskReboot(BootReason.Fallback, $"Local rollback to {back} on {other}");
            return true;
        }

        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            FinishLocal(request, false, $"The update URL '{request.Url}' is not an http:// or https:// URL");
            return false;
        }

        try
        {
            var image = await _local.FetchAsync(url, Cmdline, slots.Partition(other).ByteLength, cancellationToken).ConfigureAwait(false);
            if (image.Image.Version == _runningVersion)
            {
                _local.Clean();
                FinishLocal(request, true, $"{image.Image.Version} is what runs: nothing to do");
                return false;
            }

            // The operator asked for it by hand: a version that failed before is tried again.
            Save(_record with { Failed = null });
            await InstallAsync(slots, booted, other, image, local: true, cancellationToken).ConfigureAwait(false);
            _local.Clean();
            FinishLocal(request, true, _record.LastOutcome!);
            return true;
        }
        catch (Exception e) when (IsInstallFailure(e))
        {
            // The downloaded files stay, so the next --apply resumes instead of starting over.
            Save(_record with { Pending = null });
            FinishLocal(request, false, $"The local update from {url} failed: {e.Message}");
            LogInstallFailed(_logger, url.ToString(), e.Message);
            return false;
        }
    }

    private void FinishLocal(LocalUpdateRequest request, bool succeeded, string outcome)
    {
        Save(_record with { LocalRequestDone = request.Id, LocalRequestSucceeded = succeeded, LastOutcome = outcome });
        LocalUpdateRequest.Remove(_stateDirectory);
    }

    /// <summary>Booted the old slot while the other holds the pending version on probation: that update failed.</summary>
    private void NoteFallback(AbSlots slots, string booted, string other, BaseOsSpec? spec)
    {
        if (slots.State(booted) != PartitionState.Active || slots.State(other) != PartitionState.InProgress)
            return;
        var version = VersionOf(other);
        if (_record.Failed?.Version == version)
            return;
        var node = _bus.Topic<NodeStatus>().Get(NodeStatus.SingletonKey);
        // The last reboot recorded is the one into the update: nothing in the new version asked to leave it, so it
        // went down by itself (a kernel panic, a hang the watchdog ended, a crash, or power lost) before its commit.
        var why = node is { LastBootReason: BootReason.Update }
            ? "it went down without a reboot request before its commit: kernel panic, hang, crash or power loss"
            : node?.LastRebootReason is { Length: > 0 } reason ? reason : "unknown reboot reason - power failure or crash";
        var retry = spec?.RetryCounter ?? 0;
        Save(_record with
        {
            Pending = null,
            ForcedFallback = null,
            Failed = new FailedUpdate(version, $"{version} on {other} did not pass its test window; the device fell back to {VersionOf(booted)} ({why})", retry),
            LastOutcome = $"Fell back from {version} to {VersionOf(booted)}",
        });
        LogFellBack(_logger, version, VersionOf(booted), why);
    }

    private void Publish(AbSlots slots, string booted, string other, BaseOsSpec? spec, ConfigItemSettings settings)
    {
        var now = Time.GetUtcNow();
        SlotReport Report(string label)
        {
            var state = slots.State(label);
            var version = VersionOf(label);
            var isBooted = label == booted;
            var name = state.EveName;
            if (name == "inprogress" && isBooted)
            {
                var left = _windowStart is { } start ? Math.Max(0, (settings.TestWindow - (now - start)).TotalSeconds) : settings.TestWindow.TotalSeconds;
                var waiting = settings.ManualCommit && _windowStart is { } s && now - s >= settings.TestWindow;
                return new SlotReport(label, version, ZSwState.Installed, BaseOsStatus.Updating,
                    waiting ? BaseOsSubStatus.UpdateNeedTestConfirm : BaseOsSubStatus.UpdateTesting,
                    waiting ? "Test window passed; waiting for `outpost device commit`" : _windowStart is null ? "Waiting to reach the controller to start the test window" : $"Testing: {left:0} s left",
                    (uint)left);
            }

            if (name == "inprogress")
                return new SlotReport(label, version, ZSwState.Installed, BaseOsStatus.Failed, Error: _record.Failed?.Version == version ? _record.Failed.Reason : $"{version} did not pass its test window");
            if (name == "updating")
                return new SlotReport(label, version, ZSwState.Installed, BaseOsStatus.Updating, BaseOsSubStatus.UpdateRebooting, $"Rebooting into {version}");
            if (name == "active")
                return new SlotReport(label, version, ZSwState.Installed, isBooted ? BaseOsStatus.Updated : BaseOsStatus.Fallback);

            // Unused: the other slot may be where the wanted version is on its way.
            if (!isBooted && spec is not null && spec.Version != _runningVersion)
            {
                if (_installError is { } error)
                    return new SlotReport(label, spec.Version, ZSwState.Error, BaseOsStatus.Failed, Error: error);
                if (_record.Failed is { } failed && failed.Version == spec.Version)
                    return new SlotReport(label, spec.Version, ZSwState.Installed, BaseOsStatus.Failed, Error: failed.Reason + " Bump the retry counter (outpost device update --retry) to try it again.");
                var content = _bus.Topic<ContentStatus>().Get(spec.ContentTreeUuid);
                if (content is { Error: { } contentError })
                    return new SlotReport(label, spec.Version, ZSwState.Error, BaseOsStatus.Failed, Error: contentError.Description);
                if (content is { IsLoaded: true })
                    return spec.Activate
                        ? new SlotReport(label, spec.Version, ZSwState.Delivered, BaseOsStatus.Updating, BaseOsSubStatus.UpdateInitializing, $"Writing {spec.Version} to {label}", DownloadProgress: 100)
                        : new SlotReport(label, spec.Version, ZSwState.Delivered, BaseOsStatus.DownloadDone, DownloadProgress: 100);
                var progress = content?.ProgressPercentage ?? 0;
                return new SlotReport(label, spec.Version, ZSwState.DownloadStarted, BaseOsStatus.Downloading, BaseOsSubStatus.DownloadInprogress,
                    $"Downloading {spec.Version}: {progress} %", progress, progress);
            }

            // As EVE reads it from the partition: an unused slot still names what it holds (what a rollback would boot).
            return new SlotReport(label, version, ZSwState.Initial, BaseOsStatus.None);
        }

        _bus.Topic<OsUpdateStatus>().Publish(new OsUpdateStatus([Report(booted), Report(other)], _record.LastOutcome));
    }

    private void AskReboot(BootReason reason, string text)
    {
        if (_rebootAsked)
            return;
        _rebootAsked = true;
        LogRebootAsked(_logger, text);
        _bus.Topic<RebootRequest>().Publish(new RebootRequest(reason, text));
    }

    private DateTimeOffset? LastControllerContact() =>
        _uplink.Urls.Values.Select(u => u.LastSuccess).Where(s => s is not null).Max();

    private string VersionOf(string label) => label == BootLabel ? _runningVersion : _record.Slots.GetValueOrDefault(label)?.Version ?? "";

    private void RememberRunning(string booted)
    {
        if (_record.Slots.GetValueOrDefault(booted)?.Version == _runningVersion)
            return;
        var slots = new Dictionary<string, SlotContent>(_record.Slots, StringComparer.Ordinal) { [booted] = new SlotContent(_runningVersion, _record.Slots.GetValueOrDefault(booted)?.RootfsSha256 ?? "") };
        Save(_record with { Slots = slots });
    }

    private Stream? OpenDisk()
    {
        try
        {
            if (_options.OpenDisk is { } open)
                return open();
            return OsSlotReader.BootDiskPath(HostRoots.Host, BootLabel!) is { } path ? DiskStream.OpenReadWrite(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogDiskUnavailable(_logger, e.Message);
            return null;
        }
    }

    /// <summary>The options a new boot entry carries: the running kernel's, without what the entry sets itself.</summary>
    internal static string EntryOptions(string? cmdline) => string.Join(' ', (cmdline ?? "")
        .Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)
        .Where(a => !a.StartsWith("root=", StringComparison.Ordinal) && !a.StartsWith("initrd=", StringComparison.Ordinal) && !a.StartsWith("BOOT_IMAGE=", StringComparison.Ordinal)));

    private static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private BaseOsRecord ReadRecord()
    {
        try
        {
            return AtomicFile.TryRead(_statePath) is { } bytes ? JsonSerializer.Deserialize(bytes, BaseOsJson.Default.BaseOsRecord) ?? new() : new();
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            LogUnreadable(_logger, e.Message);
            return new();
        }
    }

    private void Save(BaseOsRecord record)
    {
        _record = record;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_statePath)!);
            AtomicFile.Write(_statePath, JsonSerializer.SerializeToUtf8Bytes(record, BaseOsJson.Default.BaseOsRecord));
        }
        catch (Exception e) when (StorageHealth.IsStorageFailure(e) || e is UnauthorizedAccessException)
        {
            LogUnwritable(_logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "A/B slots after boot: {Booted} (running) {BootedState}, {Other} {OtherState}")]
    private static partial void LogBootState(ILogger logger, string booted, string bootedState, string other, string otherState);

    [LoggerMessage(Level = LogLevel.Information, Message = "Committed {Version} on {Slot}: it is now the active slot")]
    private static partial void LogCommitted(ILogger logger, string version, string slot);

    [LoggerMessage(Level = LogLevel.Warning, Message = "force.fallback.counter changed, but {Other} holds no previous version to go back to")]
    private static partial void LogForcedFallbackImpossible(ILogger logger, string other);

    [LoggerMessage(Level = LogLevel.Information, Message = "Installing OS {Version} into {Slot} ({Bytes} bytes)")]
    private static partial void LogInstalling(ILogger logger, string version, string slot, long bytes);

    [LoggerMessage(Level = LogLevel.Error, Message = "The update to {Version} failed: {Reason}")]
    private static partial void LogInstallFailed(ILogger logger, string version, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Update to {Version} failed; running {Running} again ({Why})")]
    private static partial void LogFellBack(ILogger logger, string version, string running, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Text}")]
    private static partial void LogRebootAsked(ILogger logger, string text);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The boot disk cannot be opened: {Reason}")]
    private static partial void LogDiskUnavailable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring unreadable BaseOs state: {Reason}")]
    private static partial void LogUnreadable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write BaseOs state: {Reason}")]
    private static partial void LogUnwritable(ILogger logger, string reason);
}
