using System.Collections.Concurrent;
using System.Security.Cryptography;
using Google.Protobuf;
using Org.Lfedge.Eve.Attest;

namespace Outpost.Controller.DeviceApi;

/// <summary>
/// POST /id/{uuid}/attest. NONCE hands out a fresh nonce; QUOTE trades a quote for the integrity token that
/// gates /config. A device without a TPM sends an empty quote and gets a token only when the policy allows it
/// (the device is then flagged). A non-empty quote must carry the nonce we issued in its attested data;
/// PCR policy checks against golden values are not implemented yet.
/// </summary>
internal sealed class AttestationHandler(Storage.IControllerStore store, ControllerOptions options, ILogger<AttestationHandler> logger)
{
    private readonly ConcurrentDictionary<Guid, byte[]> _nonces = new();

    public async Task<ZAttestResponse> HandleAsync(DeviceCall call, CancellationToken ct)
    {
        ZAttestReq request;
        try
        {
            request = ZAttestReq.Parser.ParseFrom(call.Payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw DeviceApiException.Malformed("ZAttestReq", e);
        }

        switch (request.ReqType)
        {
            case ZAttestReqType.AttestReqNonce:
                var nonce = RandomNumberGenerator.GetBytes(16);
                _nonces[call.Device.Id] = nonce;
                return new ZAttestResponse
                {
                    RespType = ZAttestRespType.AttestRespNonce,
                    Nonce = new ZAttestNonceResp { Nonce = ByteString.CopyFrom(nonce) },
                };
            case ZAttestReqType.AttestReqQuote:
                return new ZAttestResponse
                {
                    RespType = ZAttestRespType.AttestRespQuoteResp,
                    QuoteResp = await QuoteAsync(call, request.Quote, ct),
                };
            case ZAttestReqType.AttestReqCert:
                logger.LogInformation("Device {DeviceId} posted {Count} attestation certificates", call.Device.Id, request.Certs.Count);
                return new ZAttestResponse { RespType = ZAttestRespType.AttestRespCert };
            case ZAttestReqType.StoreKeys:
                var matches = call.Device.IntegrityToken is { } token
                    && request.StorageKeys?.IntegrityToken is { } presented
                    && TokenEquals(presented, token);
                return new ZAttestResponse
                {
                    RespType = ZAttestRespType.StoreKeys,
                    StorageKeysResp = new AttestStorageKeysResp
                    {
                        Response = matches ? AttestStorageKeysResponseCode.Success
                            : AttestStorageKeysResponseCode.ItokenMismatch,
                    },
                };
            default:
                throw new DeviceApiException(StatusCodes.Status400BadRequest, $"Unknown attestation request type {(int)request.ReqType}.");
        }
    }

    private async Task<ZAttestQuoteResp> QuoteAsync(DeviceCall call, ZAttestQuote? quote, CancellationToken ct)
    {
        if (!_nonces.TryRemove(call.Device.Id, out var nonce))
        {
            return new ZAttestQuoteResp { Response = ZAttestResponseCode.NonceMismatch };
        }

        var withoutTpm = quote is null || (quote.AttestData.IsEmpty && quote.PcrValues.Count == 0);
        if (withoutTpm && !options.AllowDevicesWithoutTpm)
        {
            logger.LogWarning("Device {DeviceId} has no TPM and the policy requires one", call.Device.Id);
            return new ZAttestQuoteResp { Response = ZAttestResponseCode.QuoteFailed };
        }

        if (!withoutTpm && quote!.AttestData.Span.IndexOf(nonce) < 0)
        {
            return new ZAttestQuoteResp { Response = ZAttestResponseCode.NonceMismatch };
        }

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        await store.SetIntegrityTokenAsync(call.Device.Id, token, withoutTpm, ct);
        return new ZAttestQuoteResp { Response = ZAttestResponseCode.Success, IntegrityToken = ByteString.CopyFromUtf8(token) };
    }

    public static bool TokenEquals(ByteString presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(presented.Span, System.Text.Encoding.UTF8.GetBytes(expected));
}
