using System.Net;

namespace Outpost.Oci.Errors;

/// <summary>The registry does not have the requested manifest or blob (HTTP 404).</summary>
public class RegistryNotFoundException(string message) : RegistryException(message, HttpStatusCode.NotFound);

/// <summary>No manifest exists for the tag or digest in the repository.</summary>
public sealed class ManifestNotFoundException(string reference)
    : RegistryNotFoundException($"Manifest for {reference} was not found. Check the repository name and the tag or digest.")
{
    public string Reference { get; } = reference;
}

/// <summary>A blob a manifest points to is missing from the repository.</summary>
public sealed class BlobNotFoundException(string repository, string digest)
    : RegistryNotFoundException($"Blob {digest} was not found in {repository}. The image is incomplete on the registry; push it again.")
{
    public string Digest { get; } = digest;
}
