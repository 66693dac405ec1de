using Org.Lfedge.Eve.Config;

namespace Outpost.Agent.Configuration;

/// <summary>
/// The controller's desired state for this device, parsed once from a verified EdgeDevConfig. Immutable:
/// subsystems compare it with what they observe and converge. Apps, volumes, content trees and datastores are parsed into records keyed by id.
/// </summary>
public sealed record DesiredState(
    string ConfigHash,
    string DeviceUuid,
    ConfigItemSettings Settings,
    string ControllerCertConfigHash,
    long ControllerEpoch,
    DateTimeOffset? ConfigTimestamp,
    EdgeDevConfig Source)
{
    /// <summary>Datastores by id.</summary>
    public IReadOnlyDictionary<string, DatastoreSpec> Datastores { get; init; } = new Dictionary<string, DatastoreSpec>();

    /// <summary>Content trees by UUID.</summary>
    public IReadOnlyDictionary<string, ContentTreeSpec> ContentTrees { get; init; } = new Dictionary<string, ContentTreeSpec>();

    /// <summary>Volumes by UUID.</summary>
    public IReadOnlyDictionary<string, VolumeSpec> Volumes { get; init; } = new Dictionary<string, VolumeSpec>();

    /// <summary>App instances by UUID.</summary>
    public IReadOnlyDictionary<string, AppSpec> Apps { get; init; } = new Dictionary<string, AppSpec>();

    /// <summary>Before any config arrives: EVE's defaults.</summary>
    public static DesiredState Initial { get; } = new("", "", ConfigItemSettings.Defaults, "", 0, null, new EdgeDevConfig());

    public static DesiredState From(EdgeDevConfig config, string configHash) => new(
        configHash,
        config.Id?.Uuid ?? "",
        ConfigItemSettings.Parse(config.ConfigItems.Select(i => KeyValuePair.Create(i.Key, i.Value))),
        config.ControllercertConfighash,
        config.ControllerEpoch,
        config.ConfigTimestamp?.ToDateTimeOffset(),
        config)
    {
        Datastores = ByKey(config.Datastores.Select(DatastoreSpec.From), d => d.Id),
        ContentTrees = ByKey(config.ContentInfo.Select(ContentTreeSpec.From), c => c.Uuid),
        Volumes = ByKey(config.Volumes.Select(VolumeSpec.From), v => v.Uuid),
        Apps = ByKey(config.Apps.Select(AppSpec.From), a => a.Uuid),
    };

    // Objects without an id cannot be reported on; a duplicate id keeps the last one, as a map in EVE would.
    private static Dictionary<string, T> ByKey<T>(IEnumerable<T> items, Func<T, string> key)
    {
        var result = new Dictionary<string, T>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in items)
        {
            if (key(item) is { Length: > 0 } k)
            {
                result[k] = item;
            }
        }

        return result;
    }
}
