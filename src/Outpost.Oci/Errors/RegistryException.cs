using System.Net;

namespace Outpost.Oci.Errors;

/// <summary>A registry answered with an error status this client cannot recover from.</summary>
public class RegistryException(string message, HttpStatusCode? statusCode = null, Exception? inner = null)
    : OciException(message, inner)
{
    /// <summary>The HTTP status the registry returned, when there was one.</summary>
    public HttpStatusCode? StatusCode { get; } = statusCode;
}
