using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Register;
using Outpost.Agent.Identity;
using Outpost.Agent.Persistence;
using Outpost.Agent.Timing;
using Outpost.Api.Signing;

namespace Outpost.Agent.Uplink;

/// <summary>
/// Joins the device to its controller as EVE's client agent does: GET /certs and check the chain, POST
/// /register with the onboarding key, POST /uuid with the device key, persist the UUID. Failures become one
/// line saying what happened and what to do, and are retried from 1 s doubling to 10 min.
/// </summary>
public sealed partial class DeviceOnboarding(
    ControllerClient client,
    ConfigurationDirectory configuration,
    DeviceIdentity identity,
    AgentStateStore state,
    OnboardedDevice device,
    AgentOptions options,
    ILogger<DeviceOnboarding> logger)
{
    private readonly TimeProvider _time = options.TimeProvider;
    // As in EVE, the window starts with the agent: a controller that answers 404 right after start is not asked at once.
    private DateTimeOffset _lastUuidRefresh = options.TimeProvider.GetUtcNow();
    private bool _resumed;

    /// <summary>
    /// Takes up the identity of an earlier run without the network: the saved device UUID and the saved controller
    /// certificates (to verify the saved config with). True when the device had onboarded before.
    /// </summary>
    public bool TryResume()
    {
        if (state.ReadDeviceUuid() is not { } knownUuid || !LoadCheckpoint())
        {
            return false;
        }

        client.DeviceUuid = knownUuid;
        device.Uuid = knownUuid;
        _resumed = true;
        LogResumed(logger, knownUuid);
        return true;
    }

    private string SerialForHumans => client.Serials.SoftSerial.Length > 0 ? client.Serials.SoftSerial : client.Serials.Serial;

    /// <summary>
    /// Returns the device UUID. A device that onboarded before (<see cref="TryResume"/>) does not need the controller
    /// to start: it refreshes /certs when it can and otherwise goes on with what it has.
    /// </summary>
    public async Task<string> StartAsync(CancellationToken cancellationToken)
    {
        if (_resumed || TryResume())
        {
            var refreshed = await client.GetCertsAsync(configuration.RootCertificate, cancellationToken).ConfigureAwait(false);
            if (refreshed is { IsSuccess: true, Value: { } certificates })
            {
                Trust(certificates);
            }
            else
            {
                LogUsingCheckpoint(logger, client.Server.Authority, refreshed.Detail);
            }

            return client.DeviceUuid!;
        }

        var backoff = new ExponentialBackoff(options.Timings.OnboardingRetryFirst, options.Timings.OnboardingRetryMax);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var uuid = await OnboardOnceAsync(cancellationToken).ConfigureAwait(false);
                LogOnboarded(logger, uuid, client.Server.Authority);
                return uuid;
            }
            catch (OnboardingException e)
            {
                LogOnboardingFailed(logger, e.Message);
                if (attempt >= options.MaxOnboardingAttempts)
                {
                    throw;
                }
            }

            await Task.Delay(backoff.NextDelay(), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// After 400/404 on config (EVE: "device deleted in controller?"), asks /uuid again, at most once per
    /// <see cref="AgentTimings.UuidRefreshMinimum"/> counted from the agent's start or the last attempt, and never
    /// re-registers on a 404 alone: a controller such as Adam answers 404 until an operator sets a config. Only when
    /// /uuid itself says the controller does not know this device (it was deleted there) does the device register
    /// again with its onboarding certificate. Returns true when the device UUID changed.
    /// </summary>
    public async Task<bool> ConfigNotFoundAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (now - _lastUuidRefresh < options.Timings.UuidRefreshMinimum)
        {
            return false;
        }

        _lastUuidRefresh = now;
        var before = client.DeviceUuid;
        var uuid = await client.RequestUuidAsync(cancellationToken).ConfigureAwait(false);
        if (uuid is { IsSuccess: true, Value: { } response } && Guid.TryParse(response.Uuid.Trim(), out var parsed))
        {
            Adopt(parsed.ToString());
            LogUuidRefreshed(logger, client.DeviceUuid!);
            return client.DeviceUuid != before;
        }

        if (uuid.Outcome != UplinkOutcome.NotFound)
        {
            LogUuidRefreshFailed(logger, uuid.Detail);
            return false;
        }

        try
        {
            var registered = await OnboardOnceAsync(cancellationToken).ConfigureAwait(false);
            LogReregistered(logger, registered);
        }
        catch (OnboardingException e)
        {
            LogOnboardingFailed(logger, e.Message);
        }

        return client.DeviceUuid != before;
    }

    /// <summary>Fetches /certs again (CertMiss, or the controller announced new certificates).</summary>
    public async Task<bool> RefreshCertificatesAsync(CancellationToken cancellationToken)
    {
        var result = await client.GetCertsAsync(configuration.RootCertificate, cancellationToken).ConfigureAwait(false);
        if (result is { IsSuccess: true, Value: { } certificates })
        {
            Trust(certificates);
            return true;
        }

        LogCertsRefreshFailed(logger, result.Detail);
        return false;
    }

    private async Task<string> OnboardOnceAsync(CancellationToken cancellationToken)
    {
        await FetchCertificatesAsync(cancellationToken).ConfigureAwait(false);

        using var onboardingCertificate = configuration.LoadOnboardingCertificate();
        CheckClock(onboardingCertificate);
        using var onboardingSigner = EnvelopeSigner.ForOnboarding(onboardingCertificate, configuration.OnboardCertificatePem);
        var register = await client.RegisterAsync(onboardingSigner, new ZRegisterMsg
        {
            PemCert = ByteString.CopyFromUtf8(Convert.ToBase64String(Encoding.UTF8.GetBytes(identity.CertificatePem))),
            Serial = client.Serials.Serial,
            SoftSerial = client.Serials.SoftSerial,
        }, cancellationToken).ConfigureAwait(false);

        // Like EVE, success is decided by /uuid, not by register: a device certificate registered out of band, or a
        // controller that answers a repeat register with 409, still gets its UUID here.
        var previousUuid = client.DeviceUuid;
        client.DeviceUuid = null;
        var uuid = await client.RequestUuidAsync(cancellationToken).ConfigureAwait(false);
        if (uuid is { IsSuccess: true, Value: { } response } && Guid.TryParse(response.Uuid.Trim(), out var parsed))
        {
            Adopt(parsed.ToString());
            return client.DeviceUuid!;
        }

        client.DeviceUuid = previousUuid;
        if (uuid.Outcome == UplinkOutcome.CertMiss)
        {
            await FetchCertificatesAsync(cancellationToken).ConfigureAwait(false);
        }

        throw register.Outcome switch
        {
            UplinkOutcome.Forbidden => new OnboardingException(OnboardingProblem.NotPreRegistered,
                $"device {SerialForHumans} is not pre-registered on {client.Server.Authority}: ask the operator to run `outpost onboarding create --serial {SerialForHumans}`"),
            UplinkOutcome.Conflict => new OnboardingException(OnboardingProblem.Conflict,
                $"serial {SerialForHumans} is already registered on {client.Server.Authority} with a different device certificate: delete the device in the controller or use another serial"),
            UplinkOutcome.Unreachable => Unreachable(register.Detail),
            _ when uuid.Outcome == UplinkOutcome.Unreachable => Unreachable(uuid.Detail),
            _ => new OnboardingException(OnboardingProblem.Refused,
                $"{client.Server.Authority} refused onboarding (register: {register.Detail}; uuid: {uuid.Detail}): check the controller's log for device {SerialForHumans}"),
        };
    }

    private async Task FetchCertificatesAsync(CancellationToken cancellationToken)
    {
        var result = await client.GetCertsAsync(configuration.RootCertificate, cancellationToken).ConfigureAwait(false);
        switch (result)
        {
            case { IsSuccess: true, Value: { } certificates }:
                Trust(certificates);
                return;
            case { Outcome: UplinkOutcome.Unreachable }:
                throw Unreachable(result.Detail);
            case { Outcome: UplinkOutcome.UntrustedServer }:
                throw new OnboardingException(OnboardingProblem.UntrustedController,
                    $"the TLS certificate of {client.Server.Authority} does not chain to {Path.Combine(configuration.Path, ConfigurationDirectory.RootCertificateFile)}: it is not this controller's root; copy that controller's root certificate there");
            case { Outcome: UplinkOutcome.BadResponse }:
                throw new OnboardingException(OnboardingProblem.UntrustedController,
                    $"the certificates of {client.Server.Authority} are not trusted ({result.Detail}): {Path.Combine(configuration.Path, ConfigurationDirectory.RootCertificateFile)} is not this controller's root; copy that controller's root certificate there");
            default:
                throw new OnboardingException(OnboardingProblem.Refused,
                    $"{client.Server.Authority} did not serve its certificates (GET /certs: {result.Detail}): check that CONFDIR/server names an Outpost or EVE controller");
        }
    }

    private void CheckClock(X509Certificate2 onboardingCertificate)
    {
        var now = _time.GetUtcNow();
        if (now < onboardingCertificate.NotBefore.ToUniversalTime())
        {
            throw new OnboardingException(OnboardingProblem.ClockOutsideValidity,
                $"the system clock ({now:u}) is before the onboarding certificate's validity ({onboardingCertificate.NotBefore.ToUniversalTime():u}): fix the clock or NTP");
        }

        if (now > onboardingCertificate.NotAfter.ToUniversalTime())
        {
            throw new OnboardingException(OnboardingProblem.ClockOutsideValidity,
                $"the onboarding certificate expired on {onboardingCertificate.NotAfter.ToUniversalTime():u} (clock: {now:u}): fix the clock or NTP, or create a new onboarding configuration");
        }
    }

    private OnboardingException Unreachable(string detail) =>
        new(OnboardingProblem.ControllerUnreachable,
            $"cannot reach the controller at {client.Server.Authority} ({detail}): check {Path.Combine(configuration.Path, ConfigurationDirectory.ServerFile)} and the network");

    private bool LoadCheckpoint()
    {
        if (state.ReadControllerCerts() is not { } raw)
        {
            return false;
        }

        try
        {
            client.Certificates = ControllerCertificates.Parse(raw, configuration.RootCertificate, _time.GetUtcNow());
            return true;
        }
        catch (ControllerTrustException e)
        {
            LogCheckpointInvalid(logger, e.Message);
            return false;
        }
    }

    private void Trust(ControllerCertificates certificates)
    {
        client.Certificates = certificates;
        SaveQuietly(() => state.SaveControllerCerts(certificates.RawMessage));
    }

    private void Adopt(string uuid)
    {
        SaveQuietly(() => state.SaveDeviceUuid(uuid));
        client.DeviceUuid = uuid;
        device.Uuid = uuid;
    }

    // A full disk must not stop onboarding: the device runs on in memory and saves it at the next chance.
    private void SaveQuietly(Action save)
    {
        try
        {
            save();
        }
        catch (Exception e) when (Persistence.StorageHealth.IsStorageFailure(e))
        {
            LogSaveFailed(logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Onboarding failed: {Reason}")]
    private static partial void LogOnboardingFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Onboarded as device {DeviceUuid} on {Server}")]
    private static partial void LogOnboarded(ILogger logger, string deviceUuid, string server);

    [LoggerMessage(Level = LogLevel.Information, Message = "Resuming as device {DeviceUuid}")]
    private static partial void LogResumed(ILogger logger, string deviceUuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Controller {Server} not reachable at start ({Reason}); using the saved controller certificates")]
    private static partial void LogUsingCheckpoint(ILogger logger, string server, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Saved controller certificates are no longer trusted ({Reason}); onboarding again")]
    private static partial void LogCheckpointInvalid(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Asked the controller for the device UUID again: {DeviceUuid}")]
    private static partial void LogUuidRefreshed(ILogger logger, string deviceUuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Could not ask for the device UUID again ({Reason}); keeping the one we have")]
    private static partial void LogUuidRefreshFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The controller no longer knew this device; registered it again as {DeviceUuid}")]
    private static partial void LogReregistered(ILogger logger, string deviceUuid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not save onboarding state ({Reason}); it is kept in memory")]
    private static partial void LogSaveFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not refresh the controller certificates: {Reason}")]
    private static partial void LogCertsRefreshFailed(ILogger logger, string reason);
}
