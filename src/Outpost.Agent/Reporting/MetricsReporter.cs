using Microsoft.Extensions.Logging;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Hosting;
using Outpost.Agent.Uplink;

namespace Outpost.Agent.Reporting;

/// <summary>Posts device metrics every <c>timer.metric.interval</c>. Not queued: a lost sample is replaced by the next.</summary>
public sealed partial class MetricsReporter(
    MetricsCollector collector,
    ControllerClient client,
    StateBus bus,
    AgentOptions options,
    AgentHealth health,
    ILogger<MetricsReporter> logger) : SupervisedService(health, options.TimeProvider, logger)
{
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            var interval = bus.Topic<DeviceDesired>().Get(DeviceDesired.SingletonKey)?.Settings.MetricInterval ?? ConfigItemSettings.Defaults.MetricInterval;
            await Task.Delay(interval, Time, stoppingToken).ConfigureAwait(false);
            if (client.DeviceUuid is not { } deviceUuid)
            {
                continue;
            }

            try
            {
                var result = await client.PostMetricsAsync(deviceUuid, collector.Collect(deviceUuid), stoppingToken).ConfigureAwait(false);
                if (!result.IsSuccess)
                {
                    LogNotSent(logger, result.Detail);
                }
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
                LogNotSent(logger, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Metrics not sent: {Reason}")]
    private static partial void LogNotSent(ILogger logger, string reason);
}
