using Google.Protobuf;
using Org.Lfedge.Eve.Config;
using Outpost.Controller.Storage;

namespace Outpost.Controller.DeviceApi;

/// <summary>
/// POST /id/{uuid}/config. Gated on the integrity token from attestation (403 makes EVE re-attest);
/// answers 304 with no body when the device already has the current hash.
/// </summary>
internal sealed class ConfigHandler(IControllerStore store)
{
    /// <summary>The serialized ConfigResponse to sign, or null for 304 Not Modified.</summary>
    public async Task<byte[]?> HandleAsync(DeviceCall call, CancellationToken ct)
    {
        ConfigRequest request;
        try
        {
            request = ConfigRequest.Parser.ParseFrom(call.Payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw DeviceApiException.Malformed("ConfigRequest", e);
        }

        if (call.Device.IntegrityToken is not { } token || !AttestationHandler.TokenEquals(request.IntegrityToken, token))
        {
            throw new DeviceApiException(StatusCodes.Status403Forbidden,
                "Missing or stale integrity token: attest again (POST id/{uuid}/attest NONCE then QUOTE).");
        }

        var config = await store.GetConfigAsync(call.Device.Id, ct)
            ?? throw new DeviceApiException(StatusCodes.Status404NotFound, "The device has no configuration; it may have been deleted.");
        if (request.ConfigHash == config.ConfigHash)
        {
            return null;
        }

        return EncodeResponse(config.Config, config.ConfigHash);
    }

    /// <summary>Builds ConfigResponse{config = 1, configHash = 2} around the stored bytes without re-parsing them.</summary>
    private static byte[] EncodeResponse(byte[] configBytes, string configHash)
    {
        using var buffer = new MemoryStream(configBytes.Length + configHash.Length + 16);
        var output = new CodedOutputStream(buffer);
        output.WriteTag(ConfigResponse.ConfigFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(UnsafeByteOperations.UnsafeWrap(configBytes));
        output.WriteTag(ConfigResponse.ConfigHashFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteString(configHash);
        output.Flush();
        return buffer.ToArray();
    }
}
