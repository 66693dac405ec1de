using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Outpost.Agent.Uplink;

/// <summary>
/// TLS trust for the controller, as EVE builds it: the server certificate must match the host name in
/// CONFDIR/server and chain either to root-certificate.pem or to the system's trusted roots (a controller
/// behind a public TLS certificate still signs its objects with the chain rooted in root-certificate.pem).
/// </summary>
public static class ServerCertificateTrust
{
    public static bool IsTrusted(X509Certificate2? certificate, SslPolicyErrors errors, X509Certificate2 root, DateTimeOffset now)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        if (errors == SslPolicyErrors.None)
        {
            // The platform already validated the chain against the system roots.
            return true;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        return chain.Build(certificate);
    }
}
