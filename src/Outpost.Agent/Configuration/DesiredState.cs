using Org.Lfedge.Eve.Config;

namespace Outpost.Agent.Configuration;

/// <summary>
/// The controller's desired state for this device, parsed once from a verified EdgeDevConfig. Immutable:
/// subsystems compare it with what they observe and converge. Later issues add apps, volumes and networks.
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
    /// <summary>Before any config arrives: EVE's defaults.</summary>
    public static DesiredState Initial { get; } = new("", "", ConfigItemSettings.Defaults, "", 0, null, new EdgeDevConfig());

    public static DesiredState From(EdgeDevConfig config, string configHash) => new(
        configHash,
        config.Id?.Uuid ?? "",
        ConfigItemSettings.Parse(config.ConfigItems.Select(i => KeyValuePair.Create(i.Key, i.Value))),
        config.ControllercertConfighash,
        config.ControllerEpoch,
        config.ConfigTimestamp?.ToDateTimeOffset(),
        config);
}
