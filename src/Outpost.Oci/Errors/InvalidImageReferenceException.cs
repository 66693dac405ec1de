namespace Outpost.Oci.Errors;

/// <summary>An image reference string does not follow the Docker/OCI reference grammar.</summary>
public sealed class InvalidImageReferenceException(string reference, string reason)
    : OciException($"Invalid image reference '{reference}': {reason}. Use the form [registry[:port]/]repository[:tag][@sha256:<64 hex>].")
{
    public string Reference { get; } = reference;
}
