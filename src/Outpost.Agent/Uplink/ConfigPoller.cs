using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Config;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Persistence;
using Outpost.Agent.Timing;
using Outpost.Api.Signing;

namespace Outpost.Agent.Uplink;

/// <summary>
/// Polls /config with the hash of the last config received and the integrity token, and publishes the verified,
/// checked desired state on the bus. Reacts to failures as EVE does: 403 → attest again and retry; 400/404 → ask
/// /uuid again, at most once per <see cref="AgentTimings.UuidRefreshMinimum"/>; CertMiss → fetch /certs again. A
/// response that is not signed by the controller is never applied; a config for another device, or one breaking a
/// count bound, is refused whole and the last good one keeps running. The signed config is saved as
/// <c>lastconfig</c> (0600: it holds datastore passwords) so the device runs it after a restart even with no
/// controller; when the disk is full it is applied all the same and saved once space is back.
/// </summary>
public sealed partial class ConfigPoller(
    ControllerClient client,
    DeviceOnboarding onboarding,
    Attestation attestation,
    AgentStateStore state,
    UplinkStatistics statistics,
    StateBus bus,
    StorageHealth storage,
    AgentOptions options,
    ILogger<ConfigPoller> logger)
{
    private const string StorageArea = "lastconfig";
    private readonly TimeProvider _time = options.TimeProvider;
    private readonly TaskCompletionSource _firstFetch = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ByteString? _integrityToken = state.ReadIntegrityToken();
    private volatile DesiredState _current = DesiredState.Initial;
    private string _requestedHash = "";
    private byte[]? _unsaved;

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
                Apply(DesiredState.From(response.Config, response.ConfigHash, client.DeviceUuid));
                _requestedHash = response.ConfigHash;
                LogSavedConfigApplied(logger, response.ConfigHash);
            }
        }
        catch (Exception e) when (e is EnvelopeException or InvalidProtocolBufferException or ConfigRefusedException)
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
            SaveUnsaved();
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

            TrySave("integrity token", () => state.SaveIntegrityToken(_integrityToken));
        }

        var request = new ConfigRequest { ConfigHash = _requestedHash, IntegrityToken = _integrityToken };
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

                // As EVE does, the hash of what was received (even if refused) goes with the next request, so an
                // unchanged refused config is answered with 304 rather than sent again in full.
                _requestedHash = response.ConfigHash;
                if (IsOlderThanCurrent(response.Config))
                {
                    LogObsoleteConfig(logger, response.ConfigHash);
                    return true;
                }

                DesiredState desired;
                try
                {
                    desired = DesiredState.From(response.Config, response.ConfigHash, deviceUuid);
                }
                catch (ConfigRefusedException e)
                {
                    statistics.CountRefusedConfig();
                    LogConfigRefused(logger, response.ConfigHash, e.Message);
                    return true;
                }

                _unsaved = signed.SignedBody;
                var previous = _current;
                Apply(desired);
                LogConfigApplied(logger, response.ConfigHash, desired.Refused.Count);
                foreach (var refused in desired.Refused)
                {
                    LogObjectRefused(logger, refused.Reason);
                }

                if (previous.Device.ControllerCertConfigHash.Length > 0 && previous.Device.ControllerCertConfigHash != desired.Device.ControllerCertConfigHash)
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
                TrySave("integrity token", state.ClearIntegrityToken);
                return await PollOnceAsync(cancellationToken, retriedAfterAttest: true).ConfigureAwait(false);
            case UplinkOutcome.NotFound:
                LogDeviceUnknown(logger, deviceUuid, result.Detail);
                if (await onboarding.ConfigNotFoundAsync(cancellationToken).ConfigureAwait(false))
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

    /// <summary>Saves the config applied last if that has not worked yet (the disk was full).</summary>
    private void SaveUnsaved()
    {
        if (_unsaved is { } body && TrySave(StorageArea, () => state.SaveLastConfig(body)))
        {
            _unsaved = null;
        }
    }

    private bool TrySave(string what, Action save)
    {
        try
        {
            save();
            storage.Succeeded(what);
            return true;
        }
        catch (Exception e) when (StorageHealth.IsStorageFailure(e))
        {
            storage.Failed(what, e);
            LogSaveFailed(logger, what, e.Message);
            return false;
        }
    }

    private void Received()
    {
        statistics.LastConfigReceived = _time.GetUtcNow();
        _firstFetch.TrySetResult();
    }

    private bool IsOlderThanCurrent(EdgeDevConfig config) =>
        _current.Device.ConfigTimestamp is { } current
        && config.ConfigTimestamp is { } incoming
        && incoming.ToDateTimeOffset() < current;

    private void Apply(DesiredState desired)
    {
        _current = desired;
        desired.Publish(bus);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied config {ConfigHash} ({Refused} objects refused)")]
    private static partial void LogConfigApplied(ILogger logger, string configHash, int refused);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}")]
    private static partial void LogObjectRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Refused config {ConfigHash} and kept the last good one: {Reason}")]
    private static partial void LogConfigRefused(ILogger logger, string configHash, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-applied the saved config {ConfigHash} after verifying its signature")]
    private static partial void LogSavedConfigApplied(ILogger logger, string configHash);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring the saved config: {Reason}")]
    private static partial void LogSavedConfigRejected(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring config {ConfigHash}: its config_timestamp is older than the config in use")]
    private static partial void LogObsoleteConfig(ILogger logger, string configHash);

    [LoggerMessage(Level = LogLevel.Information, Message = "Controller refused the integrity token (403); attesting again")]
    private static partial void LogTokenRefused(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Controller has no config for device {DeviceUuid} ({Reason})")]
    private static partial void LogDeviceUnknown(ILogger logger, string deviceUuid, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Config poll failed: {Reason}")]
    private static partial void LogPollFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not save the {What} ({Reason}); running on without it and trying again later")]
    private static partial void LogSaveFailed(ILogger logger, string what, string reason);
}
