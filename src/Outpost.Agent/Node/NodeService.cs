using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Hosting;
using Outpost.Agent.Outbox;
using Outpost.Agent.Persistence;

namespace Outpost.Agent.Node;

/// <summary>
/// The node subsystem: the device itself. At start it tells this boot from an agent restart (by the host's boot
/// id) and works out why the device last booted: a reboot or shutdown it was commanded to do (the reason it wrote
/// before), its first boot, or else an unknown cause (power failure or crash), as EVE's nodeagent does. It carries out
/// EVE's DeviceOpsCmd: the first reboot/shutdown counter it ever sees is only recorded, any change afterwards acts.
/// A reboot halts every app (through <see cref="NodeIntent"/>), waits for them to stop, records the reason and
/// reboots; a shutdown halts every app and leaves the device up in PREPARED_POWEROFF until it is powered off or
/// told to reboot. Files: STATE/node/{boot-id, restart-counter, last-boot.json, reboot-reason.json, ops.json}.
/// </summary>
public sealed partial class NodeService : SupervisedService
{
    private readonly StateBus _bus;
    private readonly INodePower _power;
    private readonly PersistentOutbox _outbox;
    private readonly AgentOptions _options;
    private readonly ILogger _logger;
    private readonly string _directory;
    private NodeStatus _status;
    private DeviceOps _ops;

    public NodeService(StateBus bus, INodePower power, PersistentOutbox outbox, AgentOptions options, AgentHealth health, ILogger<NodeService> logger)
        : base(health, options.TimeProvider, logger)
    {
        _bus = bus;
        _power = power;
        _outbox = outbox;
        _options = options;
        _logger = logger;
        _directory = Path.Combine(options.StateDir, "node");
        _ops = Read("ops.json", NodeJson.Default.DeviceOps) ?? new DeviceOps(null, null);
        _status = Boot();
        _bus.Topic<NodeStatus>().Publish(_status);
    }

    private string BootIdPath => Path.Combine(_directory, "boot-id");

    /// <summary>With a config saved by an earlier run already on the bus, the node is online from its first info.</summary>
    protected override void OnStarting()
    {
        if (_bus.Topic<DeviceDesired>().Get(DeviceDesired.SingletonKey) is not null)
        {
            MarkOnline();
        }
    }

    private void MarkOnline()
    {
        if (_status.State == ZDeviceState.Booting)
        {
            Publish(_status with { State = ZDeviceState.Online });
        }
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var desired = _bus.Topic<DeviceDesired>();
        var requests = _bus.Topic<BaseOs.RebootRequest>();
        using var watch = StateBus.Watch(desired, requests);
        while (true)
        {
            if (desired.Get(DeviceDesired.SingletonKey) is { } device)
            {
                MarkOnline();
                await ActAsync(device, stoppingToken).ConfigureAwait(false);
            }

            // Another subsystem's reboot (BaseOs: an update to boot, a fallback to take), done the same careful way.
            if (requests.Get(BaseOs.RebootRequest.SingletonKey) is { } request && _status.State != ZDeviceState.Rebooting)
            {
                await RebootAsync(request.Text, stoppingToken, request.Reason).ConfigureAwait(false);
            }

            await watch.WaitAsync(TimeSpan.FromMinutes(1), Time, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>Takes the reboot and shutdown commands of the config: a baseline the first time, an action on any change.</summary>
    private async Task ActAsync(DeviceDesired device, CancellationToken cancellationToken)
    {
        var reboot = Decide("reboot", _ops.Reboot, device.Reboot);
        var shutdown = Decide("shutdown", _ops.Shutdown, device.Shutdown);
        if (reboot.Counter != _ops.Reboot || shutdown.Counter != _ops.Shutdown)
        {
            // Saved before acting: a device that reboots because of a counter must not reboot again for it.
            _ops = new DeviceOps(reboot.Counter, shutdown.Counter);
            Write("ops.json", _ops, NodeJson.Default.DeviceOps);
            Publish(_status with { RebootConfigCounter = _ops.Reboot, ShutdownConfigCounter = _ops.Shutdown });
        }

        if (reboot.Act)
        {
            await RebootAsync($"Reboot requested by the controller (reboot counter {reboot.Counter})", cancellationToken).ConfigureAwait(false);
        }
        else if (shutdown.Act && _status.State is not (ZDeviceState.PreparingPoweroff or ZDeviceState.PreparedPoweroff))
        {
            await ShutdownAsync(shutdown.Counter!.Value, cancellationToken).ConfigureAwait(false);
        }
    }

    private (uint? Counter, bool Act) Decide(string what, uint? seen, DeviceOperation? wanted)
    {
        if (wanted is null)
        {
            // EVE forgets the baseline when the config stops carrying the command; the next one is a new baseline.
            return (null, false);
        }

        if (seen is null)
        {
            LogBaseline(_logger, what, wanted.Counter);
            return (wanted.Counter, false);
        }

        return (wanted.Counter, seen != wanted.Counter);
    }

    private async Task RebootAsync(string reason, CancellationToken cancellationToken, BootReason why = BootReason.RebootCmd)
    {
        LogRebooting(_logger, reason);
        Publish(_status with { State = ZDeviceState.Rebooting });
        await HaltAppsAsync(reason, cancellationToken).ConfigureAwait(false);
        Write("reboot-reason.json", new RebootReason(why, reason, Time.GetUtcNow()), NodeJson.Default.RebootReason);
        await ReportAsync(cancellationToken).ConfigureAwait(false);
        await _power.RebootAsync(reason, cancellationToken).ConfigureAwait(false);
    }

    private async Task ShutdownAsync(uint counter, CancellationToken cancellationToken)
    {
        var reason = $"Shutdown requested by the controller (shutdown counter {counter})";
        LogShuttingDown(_logger, reason);
        Publish(_status with { State = ZDeviceState.PreparingPoweroff });
        await HaltAppsAsync(reason, cancellationToken).ConfigureAwait(false);
        // Should the device now be powered off, the next boot says why it went down.
        Write("reboot-reason.json", new RebootReason(BootReason.PoweroffCmd, reason + "; the device was then powered off", Time.GetUtcNow()), NodeJson.Default.RebootReason);
        Publish(_status with { State = ZDeviceState.PreparedPoweroff });
        LogPreparedPowerOff(_logger);
    }

    /// <summary>Asks the app subsystem to stop every app and waits until none is active (or the halt timeout passes).</summary>
    private async Task HaltAppsAsync(string reason, CancellationToken cancellationToken)
    {
        _bus.Topic<NodeIntent>().Publish(new NodeIntent(HaltApps: true, reason));
        var inventory = _bus.Topic<AppInventory>();
        var statuses = _bus.Topic<AppStatus>();
        using var watch = StateBus.Watch(inventory, statuses);
        var deadline = Time.GetUtcNow() + _options.Timings.AppHaltTimeout;
        while (!AllHalted(inventory.Get(AppInventory.SingletonKey), statuses.Current))
        {
            if (Time.GetUtcNow() >= deadline)
            {
                LogHaltTimedOut(_logger, _options.Timings.AppHaltTimeout.TotalSeconds);
                return;
            }

            await watch.WaitAsync(TimeSpan.FromSeconds(1), Time, cancellationToken).ConfigureAwait(false);
        }
    }

    private bool AllHalted(AppInventory? inventory, IReadOnlyDictionary<string, AppStatus> statuses) =>
        (inventory is null || inventory.ActiveWorkloads == 0)
        && _bus.Topic<AppSpec>().Current.Keys.All(k => statuses.GetValueOrDefault(k) is not { IsActive: true });

    /// <summary>Gives the outbox a moment to tell the controller the device is going down (best effort, as in EVE).</summary>
    private async Task ReportAsync(CancellationToken cancellationToken)
    {
        var deadline = Time.GetUtcNow() + _options.Timings.RebootReportWait;
        while (_outbox.CountIn(OutboxLane.Status) > 0 && Time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), Time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Tells this boot from an agent restart and works out why the device last booted.</summary>
    private NodeStatus Boot()
    {
        var bootId = HostBoot.ReadBootId(_options.BootIdPath);
        var lastBootId = ReadText("boot-id");
        if (lastBootId == bootId && Read("last-boot.json", NodeJson.Default.LastBoot) is { } same)
        {
            LogAgentRestarted(_logger, same.RestartCounter);
            return Status(same);
        }

        var counter = uint.TryParse(ReadText("restart-counter"), out var saved) ? saved : 0;
        var commanded = Read("reboot-reason.json", NodeJson.Default.RebootReason);
        var now = Time.GetUtcNow();
        var boot = commanded is not null
            ? new LastBoot(commanded.Reason, commanded.Text, commanded.At, counter)
            : lastBootId is null
                ? new LastBoot(BootReason.First, "First boot of the device", now, counter)
                : new LastBoot(BootReason.Unknown, "Unknown reboot reason: a power failure, a crash or a reboot the agent was not told about", now, counter);
        Write("last-boot.json", boot, NodeJson.Default.LastBoot);
        WriteText("restart-counter", (counter + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Delete("reboot-reason.json");
        WriteText("boot-id", bootId);
        LogBooted(_logger, boot.Reason, boot.Text, counter);
        return Status(boot);
    }

    private NodeStatus Status(LastBoot boot) =>
        new(ZDeviceState.Booting, boot.Reason, boot.Text, boot.At, boot.RestartCounter, _ops.Reboot, _ops.Shutdown);

    private void Publish(NodeStatus status)
    {
        _status = status;
        _bus.Topic<NodeStatus>().Publish(status);
    }

    private T? Read<T>(string name, JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            return AtomicFile.TryRead(Path.Combine(_directory, name)) is { } bytes ? JsonSerializer.Deserialize(bytes, type) : null;
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            LogUnreadable(_logger, name, e.Message);
            return null;
        }
    }

    private string? ReadText(string name)
    {
        try
        {
            return AtomicFile.TryReadText(Path.Combine(_directory, name))?.Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    // A full disk must not stop a reboot; it only costs the reason on the next boot.
    private void Write<T>(string name, T value, JsonTypeInfo<T> type) => Try(name, () => AtomicFile.Write(Path.Combine(_directory, name), JsonSerializer.SerializeToUtf8Bytes(value, type)));

    private void WriteText(string name, string text) => Try(name, () => AtomicFile.WriteText(Path.Combine(_directory, name), text + "\n"));

    private void Delete(string name) => Try(name, () => File.Delete(Path.Combine(_directory, name)));

    private void Try(string name, Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (StorageHealth.IsStorageFailure(e) || e is UnauthorizedAccessException)
        {
            LogUnwritable(_logger, name, e.Message);
        }
    }

    private sealed record DeviceOps(uint? Reboot, uint? Shutdown);

    private sealed record RebootReason(BootReason Reason, string Text, DateTimeOffset At);

    private sealed record LastBoot(BootReason Reason, string Text, DateTimeOffset At, uint RestartCounter);

    // Source-generated: the device agent is published Native AOT.
    [JsonSerializable(typeof(DeviceOps))]
    [JsonSerializable(typeof(RebootReason))]
    [JsonSerializable(typeof(LastBoot))]
    private sealed partial class NodeJson : JsonSerializerContext;

    [LoggerMessage(Level = LogLevel.Information, Message = "Device booted: {Reason} ({Text}); boot {Counter} of this device")]
    private static partial void LogBooted(ILogger logger, BootReason reason, string text, uint counter);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent restarted within the same boot (boot {Counter} of this device)")]
    private static partial void LogAgentRestarted(ILogger logger, uint counter);

    [LoggerMessage(Level = LogLevel.Information, Message = "First {What} counter from the controller is {Counter}: recorded, not acted on (EVE's rule)")]
    private static partial void LogBaseline(ILogger logger, string what, uint counter);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}: halting all apps, then rebooting")]
    private static partial void LogRebooting(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}: halting all apps")]
    private static partial void LogShuttingDown(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "All apps halted: the device may be powered off now (it reboots when told to)")]
    private static partial void LogPreparedPowerOff(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Apps were still running {Seconds} s after they were told to halt; going on")]
    private static partial void LogHaltTimedOut(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring unreadable node state {Name}: {Reason}")]
    private static partial void LogUnreadable(ILogger logger, string name, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write node state {Name}: {Reason}")]
    private static partial void LogUnwritable(ILogger logger, string name, string reason);
}
