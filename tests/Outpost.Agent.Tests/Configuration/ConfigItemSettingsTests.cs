using Outpost.Agent.Configuration;
using Outpost.Agent.Timing;

namespace Outpost.Agent.Tests.Configuration;

public sealed class ConfigItemSettingsTests
{
    [Fact]
    public void Defaults_are_EVEs()
    {
        var defaults = ConfigItemSettings.Defaults;

        Assert.Equal(TimeSpan.FromSeconds(60), defaults.ConfigInterval);
        Assert.Equal(TimeSpan.FromSeconds(60), defaults.MetricInterval);
        Assert.Equal(TimeSpan.FromSeconds(600), defaults.DeviceInfoInterval);
    }

    [Fact]
    public void Valid_items_apply_bad_values_keep_the_default_with_an_error_and_unknown_keys_are_reported()
    {
        var settings = ConfigItemSettings.Parse(new Dictionary<string, string>
        {
            ["timer.config.interval"] = "30",
            ["timer.metric.interval"] = "two",
            ["debug.enable.ssh"] = "ssh-ed25519 AAAA",
        });

        Assert.Equal(TimeSpan.FromSeconds(30), settings.ConfigInterval);
        Assert.Null(settings.Accepted["timer.config.interval"].Error);
        Assert.Equal(TimeSpan.FromSeconds(60), settings.MetricInterval);
        Assert.Contains("using 60", settings.Accepted["timer.metric.interval"].Error);
        Assert.True(settings.Unknown.ContainsKey("debug.enable.ssh"));
    }

    [Fact]
    public void Config_poll_delay_stays_within_30_to_100_percent_of_the_interval()
    {
        var random = new Random(7);
        var samples = Enumerable.Range(0, 1000).Select(_ => Jitter.ConfigPoll(TimeSpan.FromSeconds(60), random)).ToList();

        Assert.All(samples, d => Assert.InRange(d, TimeSpan.FromSeconds(18), TimeSpan.FromSeconds(60)));
        Assert.True(samples.Min() < TimeSpan.FromSeconds(25) && samples.Max() > TimeSpan.FromSeconds(53), "the delay should spread over the whole range");
    }
}
