using Microsoft.Extensions.Logging;
using Outpost.Agent.Configuration;
using Outpost.Agent.Uplink;

namespace Outpost.Agent.Reporting;

/// <summary>Posts device metrics every <c>timer.metric.interval</c>. Not queued: a lost sample is replaced by the next.</summary>
public sealed partial class MetricsReporter(
    MetricsCollector collector,
    ControllerClient client,
    Func<DesiredState> desired,
    TimeProvider time,
    ILogger<MetricsReporter> logger)
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(desired().Settings.MetricInterval, time, cancellationToken).ConfigureAwait(false);
            if (client.DeviceUuid is not { } deviceUuid)
            {
                continue;
            }

            try
            {
                var result = await client.PostMetricsAsync(deviceUuid, collector.Collect(deviceUuid), cancellationToken).ConfigureAwait(false);
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
