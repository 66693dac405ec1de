using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Hosting;

namespace Outpost.Agent.Uplink;

/// <summary>
/// The uplink: takes up the identity and the last config of an earlier run at once (no network needed, so apps come
/// back after a reboot even without a controller), onboards if the device never did, then polls the config for good.
/// An onboarding problem the operator must fix, once <see cref="AgentOptions.MaxOnboardingAttempts"/> is used up,
/// ends the agent with that problem's message.
/// </summary>
public sealed partial class UplinkService(
    DeviceOnboarding onboarding,
    ConfigPoller poller,
    AgentExit exit,
    IHostApplicationLifetime lifetime,
    AgentOptions options,
    AgentHealth health,
    ILogger<UplinkService> logger) : SupervisedService(health, options.TimeProvider, logger)
{
    private bool _tookUpSavedState;

    /// <summary>Puts the saved config on the bus before the other subsystems start, so they start on it.</summary>
    protected override void OnStarting()
    {
        try
        {
            TakeUpSavedState();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // RunAsync tries again under supervision; the agent must start even with an unreadable state file.
            LogSavedStateUnreadable(logger, e.Message);
        }
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        TakeUpSavedState();
        try
        {
            await onboarding.StartAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OnboardingException e)
        {
            exit.Fail(e);
            lifetime.StopApplication();
            return;
        }

        await poller.RunAsync(stoppingToken).ConfigureAwait(false);
    }

    private void TakeUpSavedState()
    {
        if (!_tookUpSavedState && onboarding.TryResume())
        {
            poller.ApplySavedConfig();
        }

        _tookUpSavedState = true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the saved identity or config at start ({Reason}); trying again")]
    private static partial void LogSavedStateUnreadable(ILogger logger, string reason);
}
