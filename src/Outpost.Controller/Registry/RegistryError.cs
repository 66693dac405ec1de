using System.Text.Json.Serialization;

namespace Outpost.Controller.Registry;

/// <summary>The distribution spec's error codes this registry answers with.</summary>
internal static class RegistryErrorCodes
{
    public const string NameInvalid = "NAME_INVALID";
    public const string NameUnknown = "NAME_UNKNOWN";
    public const string ManifestUnknown = "MANIFEST_UNKNOWN";
    public const string BlobUnknown = "BLOB_UNKNOWN";
    public const string DigestInvalid = "DIGEST_INVALID";
    public const string TagInvalid = "TAG_INVALID";
    public const string Unsupported = "UNSUPPORTED";
    public const string Unauthorized = "UNAUTHORIZED";
    public const string BlobUploadUnknown = "BLOB_UPLOAD_UNKNOWN";
    public const string BlobUploadInvalid = "BLOB_UPLOAD_INVALID";
    public const string ManifestInvalid = "MANIFEST_INVALID";
    public const string ManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN";
    public const string SizeInvalid = "SIZE_INVALID";
}

/// <summary>One entry of the spec's <c>{"errors":[…]}</c> body.</summary>
internal sealed record RegistryErrorEntry(
    [property: JsonPropertyName("code")] string Code,
    [property: JsonPropertyName("message")] string Message);

internal sealed record RegistryErrorBody([property: JsonPropertyName("errors")] IReadOnlyList<RegistryErrorEntry> Errors);

/// <summary>A request the registry cannot answer; the endpoint turns it into a status code and the spec's JSON body.</summary>
internal sealed class RegistryLookupException(int statusCode, string code, string message) : Exception(message)
{
    public int StatusCode { get; } = statusCode;

    public string Code { get; } = code;

    public static RegistryLookupException NameUnknown(string name) =>
        new(StatusCodes.Status404NotFound, RegistryErrorCodes.NameUnknown,
            $"repository '{name}' is not served here; put an image tagged '{name}:TAG' in the controller's registry layout.");

    public static RegistryLookupException ManifestUnknown(string name, string reference) =>
        new(StatusCodes.Status404NotFound, RegistryErrorCodes.ManifestUnknown, $"manifest '{reference}' is unknown in repository '{name}'.");

    public static RegistryLookupException BlobUnknown(string name, string digest) =>
        new(StatusCodes.Status404NotFound, RegistryErrorCodes.BlobUnknown, $"blob '{digest}' is unknown in repository '{name}'.");
}
