using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Outpost.Agent.Uplink;

/// <summary>
/// TLS trust for the controller: the server certificate must chain to root-certificate.pem (and only to it)
/// and match the host name in CONFDIR/server.
/// </summary>
public static class ServerCertificateTrust
{
    public static bool IsTrusted(X509Certificate2? certificate, SslPolicyErrors errors, X509Certificate2 root, DateTimeOffset now)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        return chain.Build(certificate);
    }
}
