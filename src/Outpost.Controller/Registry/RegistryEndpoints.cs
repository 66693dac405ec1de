using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Outpost.Controller.AdminApi;
using Outpost.Oci.Content;

namespace Outpost.Controller.Registry;

/// <summary>
/// An OCI distribution endpoint (<c>/v2/…</c>) serving the image layout in DATA/registry. It lives in the controller so
/// a demo or a small site needs no registry daemon, and devices already trust the controller's TLS root (datastores
/// carry it as dsCertPEM). Reads are anonymous: it serves what the operator pushed or put in the layout. Pushes
/// (<c>outpost os push</c>) need the admin token, as Basic auth with any user name and the token as password, or as a
/// Bearer token; the challenge comes with the 401 of the push itself, since <c>/v2/</c> stays open for anonymous pulls
/// (so clients that only take challenges from <c>/v2/</c>, like skopeo, cannot push here).
/// </summary>
public static class RegistryEndpoints
{
    /// <summary>The folder under the controller's data directory holding the served OCI layout.</summary>
    public const string LayoutFolder = "registry";

    /// <summary>Unfinished uploads, beside the layout so the layout never holds a half-sent blob.</summary>
    public const string UploadsFolder = "registry-uploads";

    private const string Realm = "Outpost controller registry";

    private const string ApiVersionHeader = "Docker-Distribution-API-Version";
    private const string ContentDigestHeader = "Docker-Content-Digest";
    private static readonly string[] ReadMethods = [HttpMethods.Get, HttpMethods.Head];
    private static readonly string[] WriteMethods = [HttpMethods.Post, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete];

    public static void MapRegistryApi(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<LayoutRegistry>();
        var writer = app.Services.GetRequiredService<LayoutRegistryWriter>();
        var token = app.Services.GetRequiredService<AdminToken>();

        app.MapMethods("/v2", ReadMethods, (HttpContext context) =>
        {
            context.Response.Headers[ApiVersionHeader] = "registry/2.0";
            return IsHead(context) ? Results.Ok() : Results.Json(new { });
        }).ExcludeFromDescription();

        app.MapMethods("/v2/{**path}", ReadMethods, (string? path, HttpContext context, CancellationToken ct) =>
            ServeAsync(registry, path ?? "", context, ct)).ExcludeFromDescription();

        app.MapMethods("/v2/{**path}", WriteMethods, (string? path, HttpContext context, CancellationToken ct) =>
            WriteAsync(writer, token, path ?? "", context, ct)).ExcludeFromDescription();
    }

    private static async Task<IResult> WriteAsync(LayoutRegistryWriter writer, AdminToken token, string path, HttpContext context, CancellationToken ct)
    {
        context.Response.Headers[ApiVersionHeader] = "registry/2.0";
        if (!MayPush(context.Request, token))
        {
            context.Response.Headers.WWWAuthenticate = $"Basic realm=\"{Realm}\"";
            return Error(context, new RegistryLookupException(StatusCodes.Status401Unauthorized, RegistryErrorCodes.Unauthorized,
                "pushing needs the controller's admin token: as the password of Basic auth (any user name) or as a Bearer token."));
        }

        // Blobs are OS images and app layers, far beyond the device API's body limit; the writer bounds them itself.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = LayoutRegistryWriter.MaxBlobBytes;
        }

        try
        {
            var request = RegistryRequest.Parse(path);
            var method = context.Request.Method;
            var body = context.Request.Body;
            var digestQuery = context.Request.Query["digest"].ToString();
            switch (request.Kind)
            {
                case RegistryRequestKind.Upload when HttpMethods.IsPost(method) && request.Reference.Length == 0:
                    {
                        var id = writer.StartUpload();
                        if (digestQuery.Length > 0)
                        {
                            return BlobCreated(context, request.Name, await writer.FinishAsync(id, body, ParseDigest(digestQuery), ct));
                        }

                        return UploadAccepted(context, request.Name, id, 0);
                    }

                case RegistryRequestKind.Upload when HttpMethods.IsPatch(method) && request.Reference.Length > 0:
                    return UploadAccepted(context, request.Name, request.Reference, await writer.AppendAsync(request.Reference, body, ct));
                case RegistryRequestKind.Upload when HttpMethods.IsPut(method) && request.Reference.Length > 0:
                    if (digestQuery.Length == 0)
                    {
                        throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.DigestInvalid,
                            "finishing an upload needs ?digest=sha256:<hex> of the whole blob.");
                    }

                    return BlobCreated(context, request.Name, await writer.FinishAsync(request.Reference, body, ParseDigest(digestQuery), ct));
                case RegistryRequestKind.Upload when HttpMethods.IsDelete(method) && request.Reference.Length > 0:
                    return writer.CancelUpload(request.Reference)
                        ? Results.NoContent()
                        : Error(context, new RegistryLookupException(StatusCodes.Status404NotFound, RegistryErrorCodes.BlobUploadUnknown, $"upload '{request.Reference}' is unknown."));
                case RegistryRequestKind.Manifest when HttpMethods.IsPut(method):
                    {
                        var content = await ReadManifestAsync(body, ct);
                        var digest = await writer.PutManifestAsync(request.Name, request.Reference, context.Request.ContentType?.Split(';')[0].Trim(), content, ct);
                        context.Response.Headers[ContentDigestHeader] = digest.ToString();
                        return Results.Created($"/v2/{request.Name}/manifests/{digest}", null);
                    }

                default:
                    throw new RegistryLookupException(StatusCodes.Status405MethodNotAllowed, RegistryErrorCodes.Unsupported,
                        $"{method} {path} is not supported: this registry takes pushes (blob uploads, manifests) but never deletes content; remove an image from the controller's registry folder by hand.");
            }
        }
        catch (RegistryLookupException e)
        {
            return Error(context, e);
        }
    }

    /// <summary>The admin token as a Bearer token, or as the password of Basic auth (what registry clients send).</summary>
    private static bool MayPush(HttpRequest request, AdminToken token)
    {
        var header = request.Headers.Authorization.ToString();
        string presented;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            presented = header["Bearer ".Length..].Trim();
        }
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
                presented = pair[(pair.IndexOf(':') + 1)..];
            }
            catch (FormatException)
            {
                return false;
            }
        }
        else
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), token.Bytes);
    }

    private static OciDigest ParseDigest(string text) =>
        OciDigest.TryParse(text, out var digest)
            ? digest
            : throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.DigestInvalid, $"'{text}' is not a digest; expected sha256:<64 lowercase hex digits>.");

    private static IResult UploadAccepted(HttpContext context, string name, string id, long size)
    {
        context.Response.Headers.Location = $"/v2/{name}/blobs/uploads/{id}";
        context.Response.Headers.Range = $"0-{Math.Max(0, size - 1)}";
        context.Response.Headers["Docker-Upload-UUID"] = id;
        return Results.StatusCode(StatusCodes.Status202Accepted);
    }

    private static IResult BlobCreated(HttpContext context, string name, Descriptor blob)
    {
        context.Response.Headers[ContentDigestHeader] = blob.Digest.ToString();
        return Results.Created($"/v2/{name}/blobs/{blob.Digest}", null);
    }

    private static async Task<byte[]> ReadManifestAsync(Stream body, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > LayoutRegistryWriter.MaxManifestBytes)
            {
                throw new RegistryLookupException(StatusCodes.Status413PayloadTooLarge, RegistryErrorCodes.SizeInvalid,
                    $"a manifest may be at most {LayoutRegistryWriter.MaxManifestBytes} bytes.");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static async Task<IResult> ServeAsync(LayoutRegistry registry, string path, HttpContext context, CancellationToken ct)
    {
        context.Response.Headers[ApiVersionHeader] = "registry/2.0";
        if (path.Length == 0)
        {
            return IsHead(context) ? Results.Ok() : Results.Json(new { });
        }

        try
        {
            var request = RegistryRequest.Parse(path);
            return request.Kind switch
            {
                RegistryRequestKind.Tags => await TagsAsync(registry, request.Name, context, ct),
                RegistryRequestKind.Manifest => Manifest(await registry.GetManifestAsync(request.Name, request.Reference, ct), context),
                RegistryRequestKind.Upload => throw new RegistryLookupException(StatusCodes.Status404NotFound, RegistryErrorCodes.BlobUploadUnknown,
                    "upload sessions cannot be read; finish one with PUT …?digest=."),
                _ => Blob(await registry.GetBlobAsync(request.Name, OciDigest.Parse(request.Reference), ct), context),
            };
        }
        catch (RegistryLookupException e)
        {
            return Error(context, e);
        }
    }

    private static async Task<IResult> TagsAsync(LayoutRegistry registry, string name, HttpContext context, CancellationToken ct)
    {
        IEnumerable<string> tags = await registry.ListTagsAsync(name, ct);
        // The spec's pagination: `last` is exclusive, `n` caps the count.
        if (context.Request.Query["last"].ToString() is { Length: > 0 } last)
        {
            tags = tags.Where(t => string.CompareOrdinal(t, last) > 0);
        }

        if (int.TryParse(context.Request.Query["n"], out var n) && n >= 0)
        {
            tags = tags.Take(n);
        }

        return Results.Json(new { name, tags = tags.ToList() });
    }

    private static IResult Manifest(ServedManifest manifest, HttpContext context)
    {
        context.Response.Headers[ContentDigestHeader] = manifest.Digest.ToString();
        if (IsHead(context))
        {
            context.Response.ContentType = manifest.MediaType;
            context.Response.ContentLength = manifest.Content.Length;
            return Results.Empty;
        }

        return Results.Bytes(manifest.Content, manifest.MediaType);
    }

    private static IResult Blob(ServedBlob blob, HttpContext context)
    {
        context.Response.Headers[ContentDigestHeader] = blob.Digest.ToString();
        context.Response.Headers.AcceptRanges = "bytes";
        if (IsHead(context))
        {
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = blob.Size;
            return Results.Empty;
        }

        // Range support lets a device resume a cut download instead of starting over.
        return Results.File(blob.Path, "application/octet-stream", enableRangeProcessing: true, entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{blob.Digest}\""));
    }

    private static IResult Error(HttpContext context, RegistryLookupException error)
    {
        context.Response.Headers[ApiVersionHeader] = "registry/2.0";
        return IsHead(context)
            ? Results.StatusCode(error.StatusCode)
            : Results.Json(new RegistryErrorBody([new RegistryErrorEntry(error.Code, error.Message)]), statusCode: error.StatusCode);
    }

    private static bool IsHead(HttpContext context) => HttpMethods.IsHead(context.Request.Method);
}
