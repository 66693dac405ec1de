using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Config;
using Outpost.Agent.Configuration;
using Outpost.Agent.Persistence;
using Outpost.Agent.Timing;
using Outpost.Api.Signing;

namespace Outpost.Agent.Uplink;

/// <summary>
/// Polls /config with the last configHash and the integrity token, and publishes the verified desired state.
/// Reacts to failures as EVE does: 403 → attest again and retry; 400/404 → ask /uuid again (rate limited);
/// CertMiss → fetch /certs again. A response that is not signed by the controller is never applied.
/// </summary>
public sealed partial class ConfigPoller(
    ControllerClient client,
    DeviceOnboarding onboarding,
    Attestation attestation,
    AgentStateStore state,
    UplinkStatistics statistics,
    AgentOptions options,
    ILogger<ConfigPoller> logger)
{
    private readonly TimeProvider _time = options.TimeProvider;
    private readonly TaskCompletionSource _firstFetch = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ByteString? _integrityToken = state.ReadIntegrityToken();
    private volatile DesiredState _current = DesiredState.Initial;

    /// <summary>Raised after a new desired state was applied.</summary>
    public event Action<DesiredState>? Changed;

    public DesiredState Current => _current;

    /// <summary>Completes after the first config poll the controller answered (200 or 304).</summary>
    public Task FirstFetch => _firstFetch.Task;

    /// <summary>
    /// Re-applies the saved signed config after a restart, once its signature verifies against the current
    /// controller certificates, so the device runs its last known desired state even with no controller.
    /// </summary>
    public void ApplySavedConfig()
    {
        if (state.ReadLastConfig() is not { } saved)
        {
            return;
        }

        try
        {
            var response = client.OpenSavedConfig(saved);
            if (response.Config is not null)
            {
                Apply(DesiredState.From(response.Config, response.ConfigHash));
                LogSavedConfigApplied(logger, response.ConfigHash);
            }
        }
        catch (Exception e) when (e is EnvelopeException or InvalidProtocolBufferException)
        {
            LogSavedConfigRejected(logger, e.Message);
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = new ExponentialBackoff(options.Timings.ConfigRetryFirst, TimeSpan.FromDays(1));
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan delay;
            var polled = await PollOnceAsync(cancellationToken).ConfigureAwait(false);
            // Read the interval after the poll: a config that changes timer.config.interval applies at once.
            var interval = _current.Settings.ConfigInterval;
            if (polled)
            {
                failures.Reset();
                delay = Jitter.ConfigPoll(interval);
            }
            else
            {
                delay = TimeSpan.FromTicks(Math.Min(interval.Ticks, failures.NextDelay().Ticks));
            }

            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One poll. Returns true when the controller answered with a usable config (or "unchanged").</summary>
    public async Task<bool> PollOnceAsync(CancellationToken cancellationToken, bool retriedAfterAttest = false)
    {
        var deviceUuid = client.DeviceUuid ?? throw new InvalidOperationException("Poll config only after onboarding.");
        if (_integrityToken is null)
        {
            _integrityToken = await attestation.AttestAsync(deviceUuid, cancellationToken).ConfigureAwait(false);
            if (_integrityToken is null)
            {
                return false;
            }

            state.SaveIntegrityToken(_integrityToken);
        }

        var request = new ConfigRequest { ConfigHash = _current.ConfigHash, IntegrityToken = _integrityToken };
        var result = await client.RequestConfigAsync(deviceUuid, request, cancellationToken).ConfigureAwait(false);
        switch (result.Outcome)
        {
            case UplinkOutcome.Success when result.Value is { } signed:
                Received();
                var response = signed.Response;
                if (response.Config is null || response.ConfigHash == _current.ConfigHash)
                {
                    return true;
                }

                if (IsOlderThanCurrent(response.Config))
                {
                    LogObsoleteConfig(logger, response.ConfigHash);
                    return true;
                }

                state.SaveLastConfig(signed.SignedBody);
                var previous = _current;
                Apply(DesiredState.From(response.Config, response.ConfigHash));
                LogConfigApplied(logger, response.ConfigHash);
                if (previous.ControllerCertConfigHash.Length > 0 && previous.ControllerCertConfigHash != _current.ControllerCertConfigHash)
                {
                    await onboarding.RefreshCertificatesAsync(cancellationToken).ConfigureAwait(false);
                }

                return true;
            case UplinkOutcome.NotModified:
                Received();
                return true;
            case UplinkOutcome.Forbidden when !retriedAfterAttest:
                // The controller no longer accepts our integrity token: attest again, then retry at once.
                LogTokenRefused(logger);
                _integrityToken = null;
                state.ClearIntegrityToken();
                return await PollOnceAsync(cancellationToken, retriedAfterAttest: true).ConfigureAwait(false);
            case UplinkOutcome.NotFound:
                LogDeviceUnknown(logger, deviceUuid, result.Detail);
                if (await onboarding.RefreshUuidAsync(cancellationToken).ConfigureAwait(false))
                {
                    _integrityToken = null;
                }

                return false;
            case UplinkOutcome.CertMiss:
                await onboarding.RefreshCertificatesAsync(cancellationToken).ConfigureAwait(false);
                return false;
            case UplinkOutcome.BadResponse:
                // Already logged and counted by the client; nothing from it is applied.
                return false;
            default:
                LogPollFailed(logger, result.Detail);
                return false;
        }
    }

    private void Received()
    {
        statistics.LastConfigReceived = _time.GetUtcNow();
        _firstFetch.TrySetResult();
    }

    private bool IsOlderThanCurrent(EdgeDevConfig config) =>
        _current.ConfigTimestamp is { } current
        && config.ConfigTimestamp is { } incoming
        && incoming.ToDateTimeOffset() < current;

    private void Apply(DesiredState desired)
    {
        _current = desired;
        Changed?.Invoke(desired);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied config {ConfigHash}")]
    private static partial void LogConfigApplied(ILogger logger, string configHash);

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-applied the saved config {ConfigHash} after verifying its signature")]
    private static partial void LogSavedConfigApplied(ILogger logger, string configHash);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring the saved config: {Reason}")]
    private static partial void LogSavedConfigRejected(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring config {ConfigHash}: its config_timestamp is older than the config in use")]
    private static partial void LogObsoleteConfig(ILogger logger, string configHash);

    [LoggerMessage(Level = LogLevel.Information, Message = "Controller refused the integrity token (403); attesting again")]
    private static partial void LogTokenRefused(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Controller does not know device {DeviceUuid} ({Reason}); asking for the UUID again")]
    private static partial void LogDeviceUnknown(ILogger logger, string deviceUuid, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Config poll failed: {Reason}")]
    private static partial void LogPollFailed(ILogger logger, string reason);
}
