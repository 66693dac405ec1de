using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Outpost.Api.Signing;

/// <summary>
/// The two certificate hashes the EVE API uses to name a signer in AuthContainer.senderCertHash.
/// A device is named by SHA-256 of its certificate's DER bytes; the controller by SHA-256 of the
/// exact PEM text of its signing certificate as served in ZCert.cert from /certs.
/// </summary>
public static class CertificateHashes
{
    public static byte[] OfDer(X509Certificate2 certificate) => SHA256.HashData(certificate.RawData);

    public static byte[] OfPemText(string pem) => SHA256.HashData(Encoding.UTF8.GetBytes(pem));

    public static byte[] OfPemBytes(ReadOnlySpan<byte> pem) => SHA256.HashData(pem);

    /// <summary>Hex of the full SHA-256 of the DER: the key under which stores index device certificates.</summary>
    public static string DerHex(X509Certificate2 certificate) => Convert.ToHexStringLower(OfDer(certificate));
}
