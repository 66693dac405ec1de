using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Org.Lfedge.Eve.Certs;
using Outpost.Api.Signing;

namespace Outpost.Agent.Uplink;

/// <summary>/certs broke EVE's rules or does not chain to root-certificate.pem.</summary>
public sealed class ControllerTrustException(string message) : Exception(message);

/// <summary>
/// The controller's certificates from /certs after EVE's checks: exactly one SIGNING certificate, at least one
/// ECDH certificate, intermediates only as chain helpers, nothing else, and every SIGNING/ECDH leaf chaining to
/// root-certificate.pem. Responses are verified against <see cref="Signing"/>, named by SHA-256 of its PEM text
/// exactly as served (not re-encoded), which is how the controller names itself in senderCertHash.
/// </summary>
public sealed record ControllerCertificates(
    X509Certificate2 Signing,
    byte[] SigningHash,
    IReadOnlyList<X509Certificate2> KeyExchange,
    byte[] RawMessage)
{
    public static ControllerCertificates Parse(ReadOnlySpan<byte> zControllerCert, X509Certificate2 root, DateTimeOffset now)
    {
        ZControllerCert message;
        try
        {
            message = ZControllerCert.Parser.ParseFrom(zControllerCert);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ControllerTrustException($"/certs payload is not a ZControllerCert: {e.Message}");
        }

        return Validate(message, root, now);
    }

    public static ControllerCertificates Validate(ZControllerCert message, X509Certificate2 root, DateTimeOffset now)
    {
        var signing = new List<(X509Certificate2 Certificate, ByteString Pem)>();
        var keyExchange = new List<X509Certificate2>();
        var intermediates = new X509Certificate2Collection();
        foreach (var cert in message.Certs)
        {
            X509Certificate2 parsed;
            try
            {
                parsed = X509Certificate2.CreateFromPem(cert.Cert.ToStringUtf8());
            }
            catch (CryptographicException e)
            {
                throw new ControllerTrustException($"/certs holds a {cert.Type} entry that is not a PEM certificate: {e.Message}");
            }

            switch (cert.Type)
            {
                case ZCertType.CertTypeControllerSigning:
                    signing.Add((parsed, cert.Cert));
                    break;
                case ZCertType.CertTypeControllerEcdhExchange:
                    keyExchange.Add(parsed);
                    break;
                case ZCertType.CertTypeControllerIntermediate:
                    intermediates.Add(parsed);
                    break;
                default:
                    throw new ControllerTrustException($"/certs holds a certificate of type {cert.Type}, which a controller must not send.");
            }
        }

        if (signing.Count != 1)
        {
            throw new ControllerTrustException($"/certs holds {signing.Count} SIGNING certificates; exactly one is required.");
        }

        if (keyExchange.Count == 0)
        {
            throw new ControllerTrustException("/certs holds no ECDH certificate; at least one is required.");
        }

        foreach (var leaf in keyExchange.Prepend(signing[0].Certificate))
        {
            VerifyChain(leaf, intermediates, root, now);
        }

        return new ControllerCertificates(
            signing[0].Certificate,
            CertificateHashes.OfPemBytes(signing[0].Pem.Span),
            keyExchange,
            message.ToByteArray());
    }

    private static void VerifyChain(X509Certificate2 leaf, X509Certificate2Collection intermediates, X509Certificate2 root, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        if (!chain.Build(leaf))
        {
            var reasons = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());
            throw new ControllerTrustException($"controller certificate '{leaf.Subject}' does not chain to root-certificate.pem ({reasons})");
        }
    }
}
