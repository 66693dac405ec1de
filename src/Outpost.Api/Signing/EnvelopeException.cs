namespace Outpost.Api.Signing;

/// <summary>Why a signed envelope (AuthContainer) was refused.</summary>
public enum EnvelopeError
{
    /// <summary>The bytes are not a protobuf AuthContainer.</summary>
    Malformed,
    /// <summary>The hash algorithm field is not one EVE defines.</summary>
    UnknownHashAlgorithm,
    /// <summary>senderCertHash has a length other than 16 or 32 bytes.</summary>
    BadHashLength,
    /// <summary>senderCertHash does not name the certificate we expected (EVE's CertMiss).</summary>
    CertificateMismatch,
    /// <summary>The signature does not verify over SHA-256 of the payload.</summary>
    BadSignature,
    /// <summary>The payload is encrypted and we hold no key for it.</summary>
    Encrypted,
    /// <summary>The senderCert field is missing or is not a base64 PEM certificate.</summary>
    BadSenderCertificate,
}

/// <summary>A refused envelope; <see cref="Error"/> says which rule failed.</summary>
public sealed class EnvelopeException(EnvelopeError error, string message) : Exception(message)
{
    public EnvelopeError Error { get; } = error;
}
