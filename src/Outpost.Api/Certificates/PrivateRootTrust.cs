using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Outpost.Api.Certificates;

/// <summary>
/// TLS trust in one private root, as every Outpost client of a controller needs it (CLI, agent, tests, benches):
/// the host name must match and the server certificate must chain to that root. The platform's own verdict on the
/// chain is ignored because it always reports an unknown root for a private CA.
/// </summary>
public static class PrivateRootTrust
{
    public static bool Accepts(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2 root, DateTime? verificationTime = null)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (verificationTime is { } time)
        {
            chain.ChainPolicy.VerificationTime = time;
        }

        return chain.Build(certificate as X509Certificate2 ?? new X509Certificate2(certificate));
    }

    /// <summary>A validation callback for <c>SslClientAuthenticationOptions</c> / <c>SocketsHttpHandler.SslOptions</c>.</summary>
    public static RemoteCertificateValidationCallback Callback(X509Certificate2 root) =>
        (_, certificate, _, errors) => Accepts(certificate, errors, root);
}
