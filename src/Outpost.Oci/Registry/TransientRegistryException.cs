using System.Net;

namespace Outpost.Oci.Registry;

/// <summary>A failure worth retrying (5xx, 429, a cut transfer); only escapes when retries run out.</summary>
internal sealed class TransientRegistryException(string message, HttpStatusCode? statusCode = null)
    : Errors.RegistryException(message + " Retries are exhausted; check the network and the registry, then try again.", statusCode);
