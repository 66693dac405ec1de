using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Org.Lfedge.Eve.Auth;
using Outpost.Api.Signing;
using Outpost.Controller.Storage;

namespace Outpost.Controller.DeviceApi;

/// <summary>A verified device request: who sent it and what it carried.</summary>
internal sealed record DeviceCall(DeviceRecord Device, AuthContainer Envelope, ReadOnlyMemory<byte> Payload);

/// <summary>
/// Identifies the device behind a signed request: senderCertHash names the device certificate (all 32 bytes,
/// or EVE's 16-byte prefix), the signature must verify with it, and a device may only use paths under its own
/// UUID.
/// </summary>
internal sealed class DeviceAuthenticator(IControllerStore store, ControllerOptions options, TimeProvider time)
{
    private static readonly TimeSpan LastSeenResolution = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, X509Certificate2> _certificates = new();
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _lastTouched = new();

    public async Task<DeviceCall> AuthenticateAsync(HttpContext context, string? pathDeviceId)
    {
        var body = await RequestBody.ReadAsync(context, options.MaxBodyBytes);
        var envelope = OpenEnvelope(body);
        var hashHex = Convert.ToHexStringLower(envelope.SenderCertHash.Span);
        var ct = context.RequestAborted;
        var device = envelope.SenderCertHash.Length == 32
            ? await store.FindDeviceByCertificateHashAsync(hashHex, ct)
            : await store.FindDeviceByCertificateHashPrefixAsync(hashHex, ct);
        if (device is null)
        {
            throw new DeviceApiException(StatusCodes.Status404NotFound,
                "No device is registered with the signing certificate; register (POST /register) and fetch /uuid again.");
        }

        var certificate = _certificates.GetOrAdd(device.CertificateHash, _ => X509Certificate2.CreateFromPem(device.CertificatePem));
        try
        {
            Envelope.Verify(envelope, certificate, acceptDerEcdsa: true);
        }
        catch (EnvelopeException e)
        {
            throw new DeviceApiException(StatusCodes.Status401Unauthorized, e.Message);
        }

        if (pathDeviceId is not null && !string.Equals(pathDeviceId, device.Id.ToString(), StringComparison.OrdinalIgnoreCase))
        {
            throw new DeviceApiException(StatusCodes.Status403Forbidden, "A device may only use paths under its own UUID.");
        }

        await TouchAsync(device.Id, ct);
        return new DeviceCall(device, envelope, Envelope.Payload(envelope));
    }

    /// <summary>Parses an envelope: malformed bytes are 400, a broken signature header is 401.</summary>
    public static AuthContainer OpenEnvelope(byte[] body)
    {
        try
        {
            return Envelope.Parse(body);
        }
        catch (EnvelopeException e) when (e.Error == EnvelopeError.Malformed)
        {
            throw new DeviceApiException(StatusCodes.Status400BadRequest, e.Message);
        }
        catch (EnvelopeException e)
        {
            throw new DeviceApiException(StatusCodes.Status401Unauthorized, e.Message);
        }
    }

    public void Forget(DeviceRecord device) => _certificates.TryRemove(device.CertificateHash, out _);

    private async Task TouchAsync(Guid deviceId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (_lastTouched.TryGetValue(deviceId, out var last) && now - last < LastSeenResolution)
        {
            return;
        }

        _lastTouched[deviceId] = now;
        await store.TouchDeviceAsync(deviceId, now, ct);
    }
}
