using System.Security.Cryptography;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Hosting;
using Outpost.Agent.Uplink;
using Outpost.Agent.Volumes;
using Outpost.Api.Configuration;

namespace Outpost.Agent.Reporting;

/// <summary>
/// Tells the controller the status of every object (ZInfoApp, ZInfoVolume, ZInfoContentTree) from the status
/// records on the bus, and the reason for every object the agent refused from the config. A status goes out when it
/// differs from what the controller accepted (see <see cref="StatusChannel"/>); a controller_epoch change sends all
/// of them again; an object that is gone is reported EVE's way, with only its id. After an agent restart everything
/// is sent once, as EVE does.
/// </summary>
public sealed partial class ObjectStatusReporter(
    StateBus bus,
    StatusChannel channel,
    OnboardedDevice device,
    AgentOptions options,
    AgentHealth health,
    ILogger<ObjectStatusReporter> logger) : SupervisedService(health, options.TimeProvider, logger)
{
    /// <summary>Every key reported and not yet known deleted, with the message that reports its deletion.</summary>
    private readonly Dictionary<string, ZInfoMsg> _reported = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _refusedSince = new(StringComparer.Ordinal);
    private long? _epoch;

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var apps = bus.Topic<AppStatus>();
        var volumes = bus.Topic<VolumeStatus>();
        var contents = bus.Topic<ContentStatus>();
        var refused = bus.Topic<RefusedObject>();
        var desired = bus.Topic<DeviceDesired>();
        using var watch = StateBus.Watch(apps, volumes, contents, refused, desired);
        while (true)
        {
            if (device.Uuid is { } deviceUuid)
            {
                Report(deviceUuid, apps.Current, volumes.Current, contents.Current, refused.Current, desired.Get(DeviceDesired.SingletonKey));
            }

            // Also on a timer: an item the controller refused comes due again, a deletion may have been delivered.
            await watch.WaitAsync(options.Timings.StatusRetryInterval, Time, stoppingToken).ConfigureAwait(false);
        }
    }

    private void Report(
        string deviceUuid,
        IReadOnlyDictionary<string, AppStatus> apps,
        IReadOnlyDictionary<string, VolumeStatus> volumes,
        IReadOnlyDictionary<string, ContentStatus> contents,
        IReadOnlyDictionary<string, RefusedObject> refused,
        DeviceDesired? desired)
    {
        if (desired is not null && desired.ControllerEpoch != _epoch)
        {
            if (_epoch is not null)
            {
                LogEpochChanged(logger, desired.ControllerEpoch);
                channel.ResendAll();
            }

            _epoch = desired.ControllerEpoch;
        }

        var current = new Dictionary<string, (ZInfoMsg Message, ZInfoMsg Deletion)>(StringComparer.Ordinal);
        foreach (var app in apps.Values)
        {
            current[Key(ConfigObjectKind.App, app.Uuid)] =
                (Message(deviceUuid, ZInfoTypes.ZiApp, m => m.Ainfo = app.ToInfo()), Deletion(deviceUuid, ConfigObjectKind.App, app.Uuid));
        }

        foreach (var volume in volumes.Values)
        {
            current[Key(ConfigObjectKind.Volume, volume.Uuid)] =
                (Message(deviceUuid, ZInfoTypes.ZiVolume, m => m.Vinfo = volume.ToInfo()), Deletion(deviceUuid, ConfigObjectKind.Volume, volume.Uuid));
        }

        foreach (var content in contents.Values)
        {
            current[Key(ConfigObjectKind.ContentTree, content.Uuid)] =
                (Message(deviceUuid, ZInfoTypes.ZiContentTree, m => m.Cinfo = content.ToInfo()), Deletion(deviceUuid, ConfigObjectKind.ContentTree, content.Uuid));
        }

        // A refused object wins over whatever status its id had before: the controller must see why it does not run.
        var now = Time.GetUtcNow();
        foreach (var refusal in refused.Values)
        {
            if (RefusalMessage(deviceUuid, refusal, now) is { } message)
            {
                var id = ReportedId(refusal.Id);
                current[Key(refusal.Kind, id)] = (message, Deletion(deviceUuid, refusal.Kind, id));
            }
        }

        foreach (var stale in _refusedSince.Keys.Where(k => !refused.ContainsKey(k)).ToList())
        {
            _refusedSince.Remove(stale);
        }

        foreach (var (key, (message, deletion)) in current)
        {
            channel.Offer(key, message);
            _reported[key] = deletion;
        }

        foreach (var (gone, deletion) in _reported.Where(r => !current.ContainsKey(r.Key)).ToList())
        {
            if (channel.IsAcceptedAs(gone, deletion))
            {
                channel.Forget(gone);
                _reported.Remove(gone);
            }
            else
            {
                channel.Offer(gone, deletion);
            }
        }
    }

    private ZInfoMsg? RefusalMessage(string deviceUuid, RefusedObject refusal, DateTimeOffset now)
    {
        var since = _refusedSince.TryGetValue(refusal.Key, out var first) ? first : _refusedSince[refusal.Key] = now;
        var error = new ErrorInfo { Description = refusal.Reason, Severity = Severity.Error, Timestamp = Timestamp.FromDateTimeOffset(since) };
        var id = ReportedId(refusal.Id);
        var name = refusal.DisplayName.Length <= 256 ? refusal.DisplayName : refusal.DisplayName[..256];
        return refusal.Kind switch
        {
            ConfigObjectKind.App => Message(deviceUuid, ZInfoTypes.ZiApp, m => m.Ainfo = new ZInfoApp
            {
                AppID = id,
                AppName = name,
                State = ZSwState.Error,
                AppErr = { error },
            }),
            ConfigObjectKind.Volume => Message(deviceUuid, ZInfoTypes.ZiVolume, m => m.Vinfo = new ZInfoVolume
            {
                Uuid = id,
                DisplayName = name,
                State = ZSwState.Error,
                VolumeErr = error,
            }),
            ConfigObjectKind.ContentTree => Message(deviceUuid, ZInfoTypes.ZiContentTree, m => m.Cinfo = new ZInfoContentTree
            {
                Uuid = id,
                DisplayName = name,
                State = ZSwState.Error,
                Err = error,
            }),
            // EVE has no info message for datastores; the objects that use a refused datastore are refused too.
            _ => null,
        };
    }

    private static ZInfoMsg Message(string deviceUuid, ZInfoTypes type, Action<ZInfoMsg> fill)
    {
        var message = new ZInfoMsg { Ztype = type, DevId = deviceUuid };
        fill(message);
        return message;
    }

    /// <summary>EVE's deletion report: the object's info message with only its id.</summary>
    private static ZInfoMsg Deletion(string deviceUuid, ConfigObjectKind kind, string id) => kind switch
    {
        ConfigObjectKind.App => Message(deviceUuid, ZInfoTypes.ZiApp, m => m.Ainfo = new ZInfoApp { AppID = id }),
        ConfigObjectKind.Volume => Message(deviceUuid, ZInfoTypes.ZiVolume, m => m.Vinfo = new ZInfoVolume { Uuid = id }),
        _ => Message(deviceUuid, ZInfoTypes.ZiContentTree, m => m.Cinfo = new ZInfoContentTree { Uuid = id }),
    };

    /// <summary>
    /// The outbox key of an object's status. Keys allow letters, digits, '-' and '_': a UUID fits; anything else
    /// (the id of a refused object) becomes a digest of it.
    /// </summary>
    private static string Key(ConfigObjectKind kind, string id)
    {
        var prefix = kind switch
        {
            ConfigObjectKind.App => "app_",
            ConfigObjectKind.Volume => "volume_",
            _ => "content_",
        };
        return prefix + (ConfigValidator.CanonicalId(id) ?? "x" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)))[..32]);
    }

    /// <summary>A refused id is reported as given, cut to a length a controller can store.</summary>
    private static string ReportedId(string id) => ConfigValidator.CanonicalId(id) ?? (id.Length <= 128 ? id : id[..128]);

    [LoggerMessage(Level = LogLevel.Information, Message = "controller_epoch is now {Epoch}: sending the status of every object again")]
    private static partial void LogEpochChanged(ILogger logger, long epoch);
}
