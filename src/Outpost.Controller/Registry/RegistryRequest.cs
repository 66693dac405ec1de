using Outpost.Oci.Content;

namespace Outpost.Controller.Registry;

internal enum RegistryRequestKind
{
    Manifest,
    Blob,
    Tags,

    /// <summary>An upload session: <c>blobs/uploads/</c> to start one, <c>blobs/uploads/&lt;id&gt;</c> to continue or finish it.</summary>
    Upload,
}

/// <summary>
/// The part of a <c>/v2/…</c> path after the prefix, split into repository name and tag or digest, and validated
/// against the spec's grammar before anything reaches the file system.
/// </summary>
internal sealed record RegistryRequest(RegistryRequestKind Kind, string Name, string Reference)
{
    private const string TagsSuffix = "/tags/list";
    private const string ManifestsSegment = "/manifests/";
    private const string BlobsSegment = "/blobs/";
    private const string UploadsSegment = "/blobs/uploads/";

    public static RegistryRequest Parse(string path)
    {
        if (path.EndsWith(TagsSuffix, StringComparison.Ordinal))
        {
            return new RegistryRequest(RegistryRequestKind.Tags, ValidName(path[..^TagsSuffix.Length]), "");
        }

        var uploads = path.LastIndexOf(UploadsSegment, StringComparison.Ordinal);
        if (uploads > 0)
        {
            // The session id is ours (a GUID without dashes); anything else never becomes a file name.
            var id = path[(uploads + UploadsSegment.Length)..];
            if (id.Length > 0 && !Guid.TryParseExact(id, "N", out _))
            {
                throw new RegistryLookupException(StatusCodes.Status404NotFound, RegistryErrorCodes.BlobUploadUnknown, $"upload '{id}' is unknown.");
            }

            return new RegistryRequest(RegistryRequestKind.Upload, ValidName(path[..uploads]), id);
        }

        var manifests = path.LastIndexOf(ManifestsSegment, StringComparison.Ordinal);
        var blobs = path.LastIndexOf(BlobsSegment, StringComparison.Ordinal);
        if (manifests > 0 && manifests > blobs)
        {
            var reference = path[(manifests + ManifestsSegment.Length)..];
            if (!RepositoryName.IsValidTag(reference) && !OciDigest.TryParse(reference, out _))
            {
                throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.TagInvalid,
                    $"'{reference}' is neither a tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}) nor a digest (sha256:<64 hex>).");
            }

            return new RegistryRequest(RegistryRequestKind.Manifest, ValidName(path[..manifests]), reference);
        }

        if (blobs > 0)
        {
            var digest = path[(blobs + BlobsSegment.Length)..];
            if (!OciDigest.TryParse(digest, out _))
            {
                throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.DigestInvalid,
                    $"'{digest}' is not a digest; expected sha256:<64 lowercase hex digits>.");
            }

            return new RegistryRequest(RegistryRequestKind.Blob, ValidName(path[..blobs]), digest);
        }

        throw new RegistryLookupException(StatusCodes.Status404NotFound, RegistryErrorCodes.Unsupported,
            "unknown registry path; this registry serves /v2/<name>/manifests/<ref>, /v2/<name>/blobs/<digest> and /v2/<name>/tags/list.");
    }

    private static string ValidName(string name) =>
        RepositoryName.IsValid(name)
            ? name
            : throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.NameInvalid,
                "repository names are lowercase components [a-z0-9] joined by '.', '_', '__' or '-', separated by '/'.");
}
