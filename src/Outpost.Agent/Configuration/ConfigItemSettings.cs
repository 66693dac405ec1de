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
    public const string TestWindowKey = "timer.test.baseimage.update";
    public const string FallbackNoNetworkKey = "timer.update.fallback.no.network";
    public const string ForceFallbackCounterKey = "force.fallback.counter";
    /// <summary>Outpost's own: hold the commit of an update until the operator confirms it (Mender/EOS offer it; EVE does not).</summary>
    public const string ManualCommitKey = "outpost.baseos.manual.commit";
    /// <summary>Outpost's own: bumped by `outpost device commit` to confirm a held update.</summary>
    public const string CommitCounterKey = "outpost.baseos.commit.counter";

    public static readonly IReadOnlyList<ConfigItemDefinition> Definitions =
    [
        new(ConfigIntervalKey, 60, 5, 86400),
        new(MetricIntervalKey, 60, 5, 86400),
        new(DeviceInfoIntervalKey, 600, 30, 86400),
        // EVE's defaults and limits (docs/CONFIG-PROPERTIES.md).
        new(TestWindowKey, 600, 30, 3600),
        new(FallbackNoNetworkKey, 300, 60, 86400),
        new(ForceFallbackCounterKey, 0, 0, uint.MaxValue),
        new(ManualCommitKey, 0, 0, 1),
        new(CommitCounterKey, 0, 0, uint.MaxValue),
    ];

    public static ConfigItemSettings Defaults { get; } = Parse([]);

    public TimeSpan ConfigInterval => TimeSpan.FromSeconds(Values[ConfigIntervalKey]);

    public TimeSpan MetricInterval => TimeSpan.FromSeconds(Values[MetricIntervalKey]);

    public TimeSpan DeviceInfoInterval => TimeSpan.FromSeconds(Values[DeviceInfoIntervalKey]);

    public TimeSpan TestWindow => TimeSpan.FromSeconds(Values[TestWindowKey]);

    public TimeSpan FallbackNoNetwork => TimeSpan.FromSeconds(Values[FallbackNoNetworkKey]);

    public uint ForceFallbackCounter => (uint)Values[ForceFallbackCounterKey];

    public bool ManualCommit => Values[ManualCommitKey] == 1;

    public uint CommitCounter => (uint)Values[CommitCounterKey];

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

            // Booleans travel as "true"/"false", as EVE's bool items do.
            var text = value.Trim().ToLowerInvariant() switch { "true" => "1", "false" => "0", var other => other };
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)
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
