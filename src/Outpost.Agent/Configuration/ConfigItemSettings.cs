using System.Globalization;

namespace Outpost.Agent.Configuration;

/// <summary>A config item the agent understands: its default and the range EVE allows.</summary>
public sealed record ConfigItemDefinition(string Key, long DefaultValue, long Minimum, long Maximum);

/// <summary>How one config item from the controller was taken: accepted, or accepted with an error (default used).</summary>
public sealed record ConfigItemReport(string Value, string? Error);

/// <summary>
/// The controller's config items (EdgeDevConfig.configItems), checked against the keys the agent knows. Known
/// keys with a bad value fall back to their default and carry an error; unknown keys are kept to be reported
/// back in ZInfoDevice.configItemStatus, as EVE does.
/// </summary>
public sealed record ConfigItemSettings(
    IReadOnlyDictionary<string, long> Values,
    IReadOnlyDictionary<string, ConfigItemReport> Accepted,
    IReadOnlyDictionary<string, ConfigItemReport> Unknown)
{
    public const string ConfigIntervalKey = "timer.config.interval";
    public const string MetricIntervalKey = "timer.metric.interval";
    public const string DeviceInfoIntervalKey = "timer.deviceinfo.interval";

    public static readonly IReadOnlyList<ConfigItemDefinition> Definitions =
    [
        new(ConfigIntervalKey, 60, 5, 86400),
        new(MetricIntervalKey, 60, 5, 86400),
        new(DeviceInfoIntervalKey, 600, 30, 86400),
    ];

    public static ConfigItemSettings Defaults { get; } = Parse([]);

    public TimeSpan ConfigInterval => TimeSpan.FromSeconds(Values[ConfigIntervalKey]);

    public TimeSpan MetricInterval => TimeSpan.FromSeconds(Values[MetricIntervalKey]);

    public TimeSpan DeviceInfoInterval => TimeSpan.FromSeconds(Values[DeviceInfoIntervalKey]);

    public static ConfigItemSettings Parse(IEnumerable<KeyValuePair<string, string>> items)
    {
        var values = Definitions.ToDictionary(d => d.Key, d => d.DefaultValue, StringComparer.Ordinal);
        var accepted = new SortedDictionary<string, ConfigItemReport>(StringComparer.Ordinal);
        var unknown = new SortedDictionary<string, ConfigItemReport>(StringComparer.Ordinal);
        foreach (var (key, value) in items)
        {
            var definition = Definitions.FirstOrDefault(d => d.Key == key);
            if (definition is null)
            {
                unknown[key] = new ConfigItemReport(value, "unknown config item");
                continue;
            }

            if (!long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)
                || number < definition.Minimum || number > definition.Maximum)
            {
                accepted[key] = new ConfigItemReport(value,
                    $"must be a whole number from {definition.Minimum} to {definition.Maximum}; using {definition.DefaultValue}");
                continue;
            }

            values[key] = number;
            accepted[key] = new ConfigItemReport(value, null);
        }

        return new ConfigItemSettings(values, accepted, unknown);
    }
}
