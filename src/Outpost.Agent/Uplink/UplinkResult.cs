namespace Outpost.Agent.Uplink;

/// <summary>How a call to the controller ended, in the terms EVE's device code reacts to.</summary>
public enum UplinkOutcome
{
    /// <summary>2xx with a verified (or no) body.</summary>
    Success,
    /// <summary>304: the config is unchanged.</summary>
    NotModified,
    /// <summary>No HTTP answer: DNS, TCP or timeout.</summary>
    Unreachable,
    /// <summary>TLS failed because the server certificate does not chain to root-certificate.pem.</summary>
    UntrustedServer,
    /// <summary>403: not authorized; on config an integrity-token mismatch (re-attest).</summary>
    Forbidden,
    /// <summary>400/404: the controller does not know this device (re-run /uuid).</summary>
    NotFound,
    /// <summary>409 on register.</summary>
    Conflict,
    /// <summary>401, 407, 408, 429, 5xx: temporary; try again later.</summary>
    RetryLater,
    /// <summary>Any other 4xx: this request will never be accepted.</summary>
    Refused,
    /// <summary>The response names a signing certificate we do not hold: fetch /certs again.</summary>
    CertMiss,
    /// <summary>The response body is not a valid controller-signed envelope (tampered, unsigned, wrong type).</summary>
    BadResponse,
}

/// <summary>The result of one call: outcome, HTTP status if any, the decoded value on success, and a reason.</summary>
public sealed record UplinkResult<T>(UplinkOutcome Outcome, int? StatusCode, T? Value, string Detail)
{
    public bool IsSuccess => Outcome == UplinkOutcome.Success;

    public UplinkResult<TOther> WithoutValue<TOther>() => new(Outcome, StatusCode, default, Detail);
}
