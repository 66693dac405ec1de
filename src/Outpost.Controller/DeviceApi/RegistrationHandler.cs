using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Org.Lfedge.Eve.Register;
using Outpost.Api.Signing;
using Outpost.Controller.Configs;
using Outpost.Controller.Storage;

namespace Outpost.Controller.DeviceApi;

/// <summary>
/// POST /register: the device proves it holds a pre-registered onboarding certificate (senderCert + signature)
/// and names its serial; the (onboarding certificate, serial) pair then belongs to exactly one device
/// certificate. 201 new, 200 same certificate again, 409 a different certificate, 403 not pre-registered.
/// </summary>
internal sealed class RegistrationHandler(
    IControllerStore store,
    DeviceConfigService configs,
    ControllerOptions options,
    TimeProvider time,
    ILogger<RegistrationHandler> logger)
{
    public async Task<int> RegisterAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var body = await RequestBody.ReadAsync(context, options.MaxBodyBytes);
        var envelope = DeviceAuthenticator.OpenEnvelope(body);
        X509Certificate2 onboardCertificate;
        try
        {
            (onboardCertificate, _) = Envelope.SenderCertificate(envelope);
            Envelope.Verify(envelope, onboardCertificate, acceptDerEcdsa: true);
        }
        catch (EnvelopeException e)
        {
            throw new DeviceApiException(StatusCodes.Status401Unauthorized, e.Message);
        }

        var now = time.GetUtcNow();
        if (now < onboardCertificate.NotBefore.ToUniversalTime() || now > onboardCertificate.NotAfter.ToUniversalTime())
        {
            throw new DeviceApiException(StatusCodes.Status401Unauthorized,
                $"The onboarding certificate is not valid now (valid {onboardCertificate.NotBefore:u} to {onboardCertificate.NotAfter:u}).");
        }

        var onboardHash = CertificateHashes.DerHex(onboardCertificate);
        var onboarding = await store.FindOnboardingByHashAsync(onboardHash, ct);
        if (onboarding is null || onboarding.Revoked)
        {
            throw new DeviceApiException(StatusCodes.Status403Forbidden,
                onboarding is null ? "The onboarding certificate is not registered with this controller." : "The onboarding certificate was revoked.");
        }

        var message = ParseMessage(Envelope.Payload(envelope));
        var serial = MatchSerial(onboarding, message)
            ?? throw new DeviceApiException(StatusCodes.Status403Forbidden,
                $"Serial '{message.Serial}' (soft serial '{message.SoftSerial}') is not pre-registered for this onboarding certificate.");
        var (deviceCertificate, devicePem) = ParseDeviceCertificate(message.PemCert);
        var deviceHash = CertificateHashes.DerHex(deviceCertificate);

        var existing = await store.FindDeviceByOnboardingAsync(onboardHash, serial, ct);
        if (existing is not null)
        {
            if (existing.CertificateHash == deviceHash)
            {
                return StatusCodes.Status200OK;
            }

            throw new DeviceApiException(StatusCodes.Status409Conflict,
                $"Serial '{serial}' is already registered with a different device certificate (device {existing.Id}).");
        }

        if (await store.FindDeviceByCertificateHashAsync(deviceHash, ct) is { } sameCertificate)
        {
            throw new DeviceApiException(StatusCodes.Status409Conflict,
                $"This device certificate is already registered as device {sameCertificate.Id} under another serial.");
        }

        var device = new DeviceRecord(Guid.NewGuid(), serial, message.SoftSerial, onboardHash, deviceHash, devicePem, now, null, false, now);
        try
        {
            await store.AddDeviceAsync(device, configs.CreateDefault(device.Id), ct);
        }
        catch (DuplicateRecordException e)
        {
            // Two registrations raced; the loser sees what a retry would see.
            throw new DeviceApiException(StatusCodes.Status409Conflict, e.Message);
        }

        logger.LogInformation("Registered device {DeviceId} serial {Serial} via onboarding certificate {Onboarding}", device.Id, serial, onboarding.Name);
        return StatusCodes.Status201Created;
    }

    private static ZRegisterMsg ParseMessage(ReadOnlyMemory<byte> payload)
    {
        try
        {
            return ZRegisterMsg.Parser.ParseFrom(payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw DeviceApiException.Malformed("ZRegisterMsg", e);
        }
    }

    private static string? MatchSerial(OnboardingRecord onboarding, ZRegisterMsg message)
    {
        foreach (var candidate in new[] { message.Serial, message.SoftSerial })
        {
            if (!string.IsNullOrEmpty(candidate) && onboarding.AllowedSerials.Contains(candidate, StringComparer.Ordinal))
            {
                return candidate;
            }
        }

        // "*" pre-registers every serial for this onboarding certificate (auto-onboarding).
        return onboarding.AllowedSerials.Contains("*") && !string.IsNullOrEmpty(message.Serial) ? message.Serial : null;
    }

    /// <summary>EVE sends base64 of the PEM file; plain PEM is accepted too.</summary>
    private static (X509Certificate2 Certificate, string Pem) ParseDeviceCertificate(ByteString pemCert)
    {
        if (pemCert.Length is < 100 or > 10240)
        {
            throw new DeviceApiException(StatusCodes.Status400BadRequest, $"pemCert is {pemCert.Length} bytes; it must be 100 to 10240 bytes.");
        }

        var text = pemCert.ToStringUtf8();
        try
        {
            var pem = text.Contains("-----BEGIN", StringComparison.Ordinal) ? text : Encoding.UTF8.GetString(Convert.FromBase64String(text));
            return (X509Certificate2.CreateFromPem(pem), pem);
        }
        catch (Exception e) when (e is FormatException or CryptographicException or ArgumentException)
        {
            throw new DeviceApiException(StatusCodes.Status400BadRequest, $"pemCert is not a (base64) PEM certificate: {e.Message}");
        }
    }
}
