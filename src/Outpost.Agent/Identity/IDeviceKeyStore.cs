using System.Security.Cryptography.X509Certificates;

namespace Outpost.Agent.Identity;

/// <summary>
/// Holds the device's long-lived identity: an ECDSA P-256 key and the self-signed device certificate the
/// controller binds to the device UUID. The certificate never changes once registered (a new certificate is a
/// new device), so implementations create it once and return the same one forever after.
/// </summary>
public interface IDeviceKeyStore
{
    /// <summary>Loads the identity, creating it on first use.</summary>
    DeviceIdentity LoadOrCreate(string commonName);
}

/// <summary>The device certificate with its private key, and its PEM text as stored (sent in ZRegisterMsg.pemCert).</summary>
public sealed record DeviceIdentity(X509Certificate2 Certificate, string CertificatePem, bool CreatedNow);
