using System.Net;

namespace Outpost.Oci.Errors;

/// <summary>The registry refused the credentials (HTTP 401) or the permission (HTTP 403).</summary>
public sealed class RegistryAuthException(string registry, HttpStatusCode statusCode, string detail)
    : RegistryException(
        $"Registry {registry} refused access ({(int)statusCode} {statusCode}): {detail}. Check the user name and password or token configured for this registry and that the account may access the repository.",
        statusCode)
{
    public string Registry { get; } = registry;
}
