using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Reporting;
using Outpost.Agent.Uplink;

namespace Outpost.Agent.Hosting;

/// <summary>
/// For <see cref="AgentOptions.ExitWhenOnline"/> (`outpost agent --once`): ends the agent once the first config was
/// fetched and the controller has the current device info saying the node is past booting (delivered now, or accepted
/// by an earlier run and unchanged). Waiting for a BOOTING info alone would end the run before the ONLINE one is sent.
/// </summary>
public sealed partial class OnlineWatcher(
    ConfigPoller poller,
    StatusChannel channel,
    OnboardedDevice device,
    IHostApplicationLifetime lifetime,
    ILogger<OnlineWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await poller.FirstFetch.WaitAsync(stoppingToken).ConfigureAwait(false);
        while (!channel.IsUpToDate(DeviceInfoReporter.OutboxKey)
            || channel.LastAccepted(DeviceInfoReporter.OutboxKey)?.Dinfo is not { } info || info.State == ZDeviceState.Booting)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), stoppingToken).ConfigureAwait(false);
        }

        LogOnline(logger, device.Uuid ?? "");
        lifetime.StopApplication();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Device {DeviceUuid} is online: config fetched and device info delivered")]
    private static partial void LogOnline(ILogger logger, string deviceUuid);
}
