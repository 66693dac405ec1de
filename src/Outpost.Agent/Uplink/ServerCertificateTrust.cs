using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;

namespace Outpost.Agent.Uplink;

/// <summary>
/// TLS trust for the controller: the server certificate must match the host name in CONFDIR/server and chain to
/// root-certificate.pem or to a certificate of v2tlsbaseroot-certificates.pem (the file EVE documents for a
/// controller behind a TLS certificate of its own). The system's public roots are not trusted: whoever holds any
/// public certificate for that name would otherwise be the device's controller as far as TLS goes.
/// </summary>
public static class ServerCertificateTrust
{
    public static bool IsTrusted(X509Certificate2? certificate, SslPolicyErrors errors, IReadOnlyList<X509Certificate2> roots, DateTimeOffset now) =>
        roots.Any(root => PrivateRootTrust.Accepts(certificate, errors, root, now.UtcDateTime));
}
