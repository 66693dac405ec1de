using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Org.Lfedge.Eve.Auth;
using HashAlgorithm = Org.Lfedge.Eve.Common.HashAlgorithm;

namespace Outpost.Api.Signing;

/// <summary>
/// Opens signed AuthContainers. Parsing and verification are separate steps because the receiver first has to
/// find the signer: a controller looks the device up by senderCertHash (or reads senderCert on register), a
/// device compares the hash with the controller signing certificate it fetched from /certs.
/// </summary>
public static class Envelope
{
    /// <summary>Parses an AuthContainer and checks the header rules that do not need the signer.</summary>
    public static AuthContainer Parse(ReadOnlySpan<byte> body)
    {
        AuthContainer container;
        try
        {
            container = AuthContainer.Parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new EnvelopeException(EnvelopeError.Malformed, $"Body is not a protobuf AuthContainer: {e.Message}");
        }

        if (container.CipherData is not null && container.ProtectedPayload is null)
        {
            throw new EnvelopeException(EnvelopeError.Encrypted, "Encrypted envelopes are not supported by this endpoint.");
        }

        if (container.Algo is not (HashAlgorithm.Sha25616Bytes or HashAlgorithm.Sha25632Bytes))
        {
            throw new EnvelopeException(EnvelopeError.UnknownHashAlgorithm, $"Unknown sender hash algorithm {(int)container.Algo}.");
        }

        var expectedLength = container.Algo == HashAlgorithm.Sha25616Bytes ? 16 : 32;
        if (container.SenderCertHash.Length != expectedLength)
        {
            throw new EnvelopeException(EnvelopeError.BadHashLength,
                $"senderCertHash is {container.SenderCertHash.Length} bytes; {container.Algo} needs {expectedLength}.");
        }

        if (container.SignatureHash.IsEmpty)
        {
            throw new EnvelopeException(EnvelopeError.BadSignature, "The envelope carries no signature.");
        }

        return container;
    }

    /// <summary>The payload bytes (empty when the sender sent none).</summary>
    public static ReadOnlyMemory<byte> Payload(AuthContainer container) =>
        container.ProtectedPayload?.Payload.Memory ?? ReadOnlyMemory<byte>.Empty;

    /// <summary>True when senderCertHash is the first 16 or all 32 bytes of <paramref name="fullSha256"/>.</summary>
    public static bool NamesSigner(AuthContainer container, ReadOnlySpan<byte> fullSha256) =>
        fullSha256.Length >= container.SenderCertHash.Length
        && container.SenderCertHash.Span.SequenceEqual(fullSha256[..container.SenderCertHash.Length]);

    /// <summary>
    /// Verifies the signature over SHA-256(payload) with the signer's public key: ECDSA as raw r‖s, or RSA
    /// PKCS#1 v1.5. <paramref name="acceptDerEcdsa"/> additionally accepts ASN.1 DER ECDSA, as some
    /// controllers do for device signatures; EVE itself verifies only r‖s.
    /// </summary>
    public static void Verify(AuthContainer container, X509Certificate2 signer, bool acceptDerEcdsa = false)
    {
        var payload = Payload(container).Span;
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(payload, digest);
        var signature = container.SignatureHash.Span;

        bool valid;
        using (var ecdsa = signer.GetECDsaPublicKey())
        {
            if (ecdsa is not null)
            {
                var fieldBytes = (ecdsa.KeySize + 7) / 8;
                valid = signature.Length == 2 * fieldBytes
                    && ecdsa.VerifyHash(digest, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
                // A DER signature can itself be 2 * fieldBytes long, so try DER whenever r‖s did not verify.
                valid = valid || (acceptDerEcdsa && ecdsa.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence));
            }
            else
            {
                using var rsa = signer.GetRSAPublicKey()
                    ?? throw new EnvelopeException(EnvelopeError.BadSignature, "Signer certificate has neither an ECDSA nor an RSA key.");
                valid = rsa.VerifyHash(digest, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            }
        }

        if (!valid)
        {
            throw new EnvelopeException(EnvelopeError.BadSignature, "Signature does not verify over SHA-256 of the payload.");
        }
    }

    /// <summary>
    /// Parses, checks that the hash names <paramref name="signer"/> (whose hash is <paramref name="signerHash"/>)
    /// and verifies. Returns the payload.
    /// </summary>
    public static ReadOnlyMemory<byte> Open(ReadOnlySpan<byte> body, X509Certificate2 signer, ReadOnlySpan<byte> signerHash)
    {
        var container = Parse(body);
        if (!NamesSigner(container, signerHash))
        {
            throw new EnvelopeException(EnvelopeError.CertificateMismatch,
                "senderCertHash does not match the expected signing certificate; fetch /certs again.");
        }

        Verify(container, signer);
        return Payload(container);
    }

    /// <summary>The sender certificate from senderCert (base64 of PEM text), with its PEM text.</summary>
    public static (X509Certificate2 Certificate, string PemText) SenderCertificate(AuthContainer container)
    {
        if (container.SenderCert.IsEmpty)
        {
            throw new EnvelopeException(EnvelopeError.BadSenderCertificate, "senderCert is empty; registration must carry the onboarding certificate.");
        }

        try
        {
            var pem = Encoding.UTF8.GetString(Convert.FromBase64String(container.SenderCert.ToStringUtf8()));
            return (X509Certificate2.CreateFromPem(pem), pem);
        }
        catch (Exception e) when (e is FormatException or CryptographicException or ArgumentException)
        {
            throw new EnvelopeException(EnvelopeError.BadSenderCertificate, $"senderCert is not base64 of a PEM certificate: {e.Message}");
        }
    }
}
