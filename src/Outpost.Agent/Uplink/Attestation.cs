using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Attest;

namespace Outpost.Agent.Uplink;

/// <summary>
/// Obtains the integrity token that /config requires. Without a TPM the device runs EVE's flow with an empty
/// quote: NONCE, then QUOTE; the controller answers SUCCESS with a token.
/// </summary>
public sealed partial class Attestation(ControllerClient client, ILogger<Attestation> logger)
{
    /// <summary>The token, or null when attestation failed (the reason is logged).</summary>
    public async Task<ByteString?> AttestAsync(string deviceUuid, CancellationToken cancellationToken)
    {
        var nonce = await client.AttestAsync(deviceUuid, new ZAttestReq { ReqType = ZAttestReqType.AttestReqNonce }, cancellationToken).ConfigureAwait(false);
        if (nonce is not { IsSuccess: true, Value: { RespType: ZAttestRespType.AttestRespNonce, Nonce.Nonce.IsEmpty: false } })
        {
            LogFailed(logger, "nonce", nonce.Detail);
            return null;
        }

        // A TPM would quote its PCRs over the nonce here; the empty quote tells the controller there is no TPM.
        var quote = await client.AttestAsync(deviceUuid, new ZAttestReq { ReqType = ZAttestReqType.AttestReqQuote, Quote = new ZAttestQuote() }, cancellationToken).ConfigureAwait(false);
        if (quote is not { IsSuccess: true, Value.QuoteResp: { Response: ZAttestResponseCode.Success, IntegrityToken.IsEmpty: false } quoteResponse })
        {
            var reason = quote.Value?.QuoteResp is { } r ? $"quote response {r.Response}" : quote.Detail;
            LogFailed(logger, "quote", reason);
            return null;
        }

        LogAttested(logger, deviceUuid);
        return quoteResponse.IntegrityToken;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Attestation step {Step} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string step, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Attested device {DeviceUuid}; received an integrity token")]
    private static partial void LogAttested(ILogger logger, string deviceUuid);
}
