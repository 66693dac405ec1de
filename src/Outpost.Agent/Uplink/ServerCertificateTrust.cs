using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;

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
        // No errors: the platform already validated the chain against the system roots and the host name.
        return certificate is not null && errors == SslPolicyErrors.None
            || PrivateRootTrust.Accepts(certificate, errors, root, now.UtcDateTime);
    }
}
