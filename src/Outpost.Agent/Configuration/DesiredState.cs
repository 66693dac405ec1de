using Org.Lfedge.Eve.Config;
using Outpost.Agent.Bus;
using Outpost.Api.Configuration;

namespace Outpost.Agent.Configuration;

/// <summary>A device operation the controller asks for (EVE DeviceOpsCmd): it is carried out when the counter changes.</summary>
public sealed record DeviceOperation(uint Counter);

/// <summary>The device-wide part of the desired state: config items, certificates, epoch and device operations.</summary>
public sealed record DeviceDesired(
    string ConfigHash,
    string DeviceUuid,
    ConfigItemSettings Settings,
    string ControllerCertConfigHash,
    long ControllerEpoch,
    DateTimeOffset? ConfigTimestamp,
    DeviceOperation? Reboot,
    DeviceOperation? Shutdown,
    BaseOsSpec? BaseOs = null) : IKeyed
{
    public const string SingletonKey = "device";

    public string Key => SingletonKey;
}

/// <summary>
/// EVE's BaseOS (EdgeDevConfig field 26): the OS version the device should run, the content tree that holds it,
/// whether to activate it (false: download and verify only) and the retry counter for a failed version.
/// </summary>
public sealed record BaseOsSpec(string ContentTreeUuid, string Version, bool Activate, uint RetryCounter)
{
    public static BaseOsSpec? From(BaseOS? config) =>
        // A content tree id that is not a UUID never reaches the content store (it would become a path there).
        config is null || !Guid.TryParse(config.ContentTreeUuid, out _) || config.BaseOsVersion.Length is 0 or > 128
            ? null
            : new BaseOsSpec(DatastoreSpec.Canonical(config.ContentTreeUuid), config.BaseOsVersion, config.Activate, config.RetryUpdate?.Counter ?? 0);
}

/// <summary>The whole config cannot be used: it is for another device, or breaks a count bound.</summary>
public sealed class ConfigRefusedException(string message) : Exception(message);

/// <summary>
/// The controller's desired state for this device, parsed once from a verified EdgeDevConfig and checked by
/// <see cref="ConfigValidator"/>. Immutable. Objects that failed their checks are in <see cref="Refused"/> and nowhere
/// else, so no subsystem ever sees an id that is not a UUID. <see cref="Publish"/> puts it on the state bus.
/// </summary>
public sealed record DesiredState(DeviceDesired Device, EdgeDevConfig Source)
{
    public IReadOnlyDictionary<string, DatastoreSpec> Datastores { get; init; } = new Dictionary<string, DatastoreSpec>();

    public IReadOnlyDictionary<string, ContentTreeSpec> ContentTrees { get; init; } = new Dictionary<string, ContentTreeSpec>();

    public IReadOnlyDictionary<string, VolumeSpec> Volumes { get; init; } = new Dictionary<string, VolumeSpec>();

    public IReadOnlyDictionary<string, AppSpec> Apps { get; init; } = new Dictionary<string, AppSpec>();

    /// <summary>The device's hardware apps may be given (deviceIoList), by phylabel.</summary>
    public IReadOnlyDictionary<string, PhysicalIoSpec> PhysicalIo { get; init; } = new Dictionary<string, PhysicalIoSpec>();

    public IReadOnlyList<RefusedObject> Refused { get; init; } = [];

    public string ConfigHash => Device.ConfigHash;

    public ConfigItemSettings Settings => Device.Settings;

    /// <summary>Before any config arrives: EVE's defaults.</summary>
    public static DesiredState Initial { get; } =
        new(new DeviceDesired("", "", ConfigItemSettings.Defaults, "", 0, null, null, null), new EdgeDevConfig());

    /// <summary>Parses and checks a config.</summary>
    /// <param name="deviceUuid">This device's UUID; a config naming another device is refused. Null skips the check.</param>
    /// <exception cref="ConfigRefusedException">The config is for another device or breaks a count bound.</exception>
    public static DesiredState From(EdgeDevConfig config, string configHash, string? deviceUuid = null)
    {
        var validation = ConfigValidator.Validate(config, deviceUuid);
        if (validation.ConfigErrors.Count > 0)
        {
            throw new ConfigRefusedException(string.Join(" ", validation.ConfigErrors));
        }

        bool Accepted(ConfigObjectKind kind, string id) => !validation.IsRefused(kind, id);
        var device = new DeviceDesired(
            configHash,
            config.Id?.Uuid ?? "",
            ConfigItemSettings.Parse(config.ConfigItems.Select(i => KeyValuePair.Create(i.Key, i.Value))),
            config.ControllercertConfighash,
            config.ControllerEpoch,
            config.ConfigTimestamp?.ToDateTimeOffset(),
            config.Reboot is { } reboot ? new DeviceOperation(reboot.Counter) : null,
            config.Shutdown is { } shutdown ? new DeviceOperation(shutdown.Counter) : null,
            BaseOsSpec.From(config.Baseos));
        return new DesiredState(device, config)
        {
            Datastores = ByKey(config.Datastores.Where(d => Accepted(ConfigObjectKind.Datastore, d.Id)).Select(DatastoreSpec.From)),
            ContentTrees = ByKey(config.ContentInfo.Where(c => Accepted(ConfigObjectKind.ContentTree, c.Uuid)).Select(ContentTreeSpec.From)),
            Volumes = ByKey(config.Volumes.Where(v => Accepted(ConfigObjectKind.Volume, v.Uuid)).Select(VolumeSpec.From)),
            Apps = ByKey(config.Apps.Where(a => Accepted(ConfigObjectKind.App, a.Uuidandversion?.Uuid ?? "")).Select(AppSpec.From)),
            // Keyed by phylabel; a label given twice keeps its first entry rather than failing the whole config.
            PhysicalIo = config.DeviceIoList.Where(io => io.Phylabel.Length > 0).GroupBy(io => io.Phylabel, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => PhysicalIoSpec.From(g.First()), StringComparer.Ordinal),
            Refused = validation.Objects.Select(o => new RefusedObject(o.Kind, o.Id, o.DisplayName, o.Reason)).ToList(),
        };
    }

    /// <summary>Makes this the desired state on the bus: each kind's topic is replaced as a whole, the device record last.</summary>
    public void Publish(StateBus bus)
    {
        bus.Topic<DatastoreSpec>().ReplaceAll(Datastores.Values);
        bus.Topic<ContentTreeSpec>().ReplaceAll(ContentTrees.Values);
        bus.Topic<VolumeSpec>().ReplaceAll(Volumes.Values);
        bus.Topic<PhysicalIoSpec>().ReplaceAll(PhysicalIo.Values);
        bus.Topic<AppSpec>().ReplaceAll(Apps.Values);
        bus.Topic<RefusedObject>().ReplaceAll(Refused);
        // Last: subsystems wait for it before acting, so they never act on half a config.
        bus.Topic<DeviceDesired>().Publish(Device);
    }

    private static Dictionary<string, T> ByKey<T>(IEnumerable<T> items)
        where T : IKeyed =>
        items.ToDictionary(i => i.Key, StringComparer.Ordinal);
}
