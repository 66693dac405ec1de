using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Org.Lfedge.Eve.Auth;
using Outpost.Api.Certificates;
using HashAlgorithm = Org.Lfedge.Eve.Common.HashAlgorithm;

namespace Outpost.Api.Signing;

/// <summary>
/// Wraps payloads in signed AuthContainers as EVE does: signature over SHA-256(payload), ECDSA as raw
/// fixed-width r‖s (IEEE P1363, 64 bytes for P-256) or RSA PKCS#1 v1.5, and senderCertHash naming the signer.
/// </summary>
public sealed class EnvelopeSigner : IDisposable
{
    private readonly ECDsa? _ecdsa;
    private readonly RSA? _rsa;
    private readonly ByteString _senderCertHash;
    private readonly ByteString _senderCert;

    private EnvelopeSigner(X509Certificate2 certificate, byte[] senderCertHash, string? senderPemText)
    {
        Certificate = certificate;
        _ecdsa = certificate.GetECDsaPrivateKey();
        _rsa = _ecdsa is null ? certificate.GetRSAPrivateKey() : null;
        if (_ecdsa is null && _rsa is null)
        {
            throw new ArgumentException("The signing certificate carries no ECDSA or RSA private key.", nameof(certificate));
        }

        _senderCertHash = ByteString.CopyFrom(senderCertHash);
        _senderCert = senderPemText is null
            ? ByteString.Empty
            : ByteString.CopyFromUtf8(Convert.ToBase64String(Encoding.UTF8.GetBytes(senderPemText)));
    }

    public X509Certificate2 Certificate { get; }

    public ReadOnlyMemory<byte> SenderCertHash => _senderCertHash.Memory;

    /// <summary>A device signs with its device key; the hash is SHA-256 of the certificate DER.</summary>
    public static EnvelopeSigner ForDevice(X509Certificate2 deviceCertWithKey) =>
        new(deviceCertWithKey, CertificateHashes.OfDer(deviceCertWithKey), senderPemText: null);

    /// <summary>
    /// Registration is signed with the onboarding key; senderCert carries base64 of the onboarding PEM so the
    /// controller can identify the sender without a lookup.
    /// </summary>
    public static EnvelopeSigner ForOnboarding(X509Certificate2 onboardCertWithKey, string? onboardPemText = null) =>
        new(onboardCertWithKey, CertificateHashes.OfDer(onboardCertWithKey), onboardPemText ?? Pem.Certificate(onboardCertWithKey));

    /// <summary>The controller names its signing certificate by SHA-256 of the PEM text it serves from /certs.</summary>
    public static EnvelopeSigner ForController(X509Certificate2 signingCertWithKey, string servedPemText) =>
        new(signingCertWithKey, CertificateHashes.OfPemText(servedPemText), senderPemText: null);

    public byte[] Sign(ReadOnlySpan<byte> payload)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(payload, digest);
        return _ecdsa is not null
            ? _ecdsa.SignHash(digest, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
            : _rsa!.SignHash(digest.ToArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    public AuthContainer Wrap(ReadOnlySpan<byte> payload) => new()
    {
        ProtectedPayload = new AuthBody { Payload = ByteString.CopyFrom(payload) },
        Algo = HashAlgorithm.Sha25632Bytes,
        SenderCertHash = _senderCertHash,
        SignatureHash = ByteString.CopyFrom(Sign(payload)),
        SenderCert = _senderCert,
    };

    public AuthContainer Wrap(IMessage message) => Wrap(message.ToByteArray());

    public byte[] Seal(ReadOnlySpan<byte> payload) => Wrap(payload).ToByteArray();

    public byte[] Seal(IMessage message) => Wrap(message).ToByteArray();

    public void Dispose()
    {
        _ecdsa?.Dispose();
        _rsa?.Dispose();
    }
}
