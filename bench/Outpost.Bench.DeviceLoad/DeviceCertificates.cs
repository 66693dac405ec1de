using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Outpost.Bench.DeviceLoad;

/// <summary>Self-signed P-256 certificates with their keys, as an EVE device without a TPM makes its own.</summary>
public static class DeviceCertificates
{
    public static X509Certificate2 SelfSigned(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        // The returned certificate holds its own reference to the key, so disposing ours is safe.
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }
}
