using Outpost.Oci.Content;

namespace Outpost.Controller.Registry;

/// <summary>
/// A pull-only OCI distribution endpoint (<c>/v2/…</c>) serving the image layout in DATA/registry. It lives in the
/// controller so a demo or a small site needs no registry daemon, and devices already trust the controller's TLS root
/// (datastores carry it as dsCertPEM). Reads are anonymous: it serves only what the operator put in the layout.
/// </summary>
public static class RegistryEndpoints
{
    /// <summary>The folder under the controller's data directory holding the served OCI layout.</summary>
    public const string LayoutFolder = "registry";

    private const string ApiVersionHeader = "Docker-Distribution-API-Version";
    private const string ContentDigestHeader = "Docker-Content-Digest";
    private static readonly string[] ReadMethods = [HttpMethods.Get, HttpMethods.Head];
    private static readonly string[] WriteMethods = [HttpMethods.Post, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete];

    public static void MapRegistryApi(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<ControllerOptions>();
        var registry = new LayoutRegistry(Path.Combine(options.DataDirectory, LayoutFolder));

        app.MapMethods("/v2", ReadMethods, (HttpContext context) =>
        {
            context.Response.Headers[ApiVersionHeader] = "registry/2.0";
            return IsHead(context) ? Results.Ok() : Results.Json(new { });
        }).ExcludeFromDescription();

        app.MapMethods("/v2/{**path}", ReadMethods, (string? path, HttpContext context, CancellationToken ct) =>
            ServeAsync(registry, path ?? "", context, ct)).ExcludeFromDescription();

        app.MapMethods("/v2/{**path}", WriteMethods, (HttpContext context) =>
            Error(context, new RegistryLookupException(StatusCodes.Status405MethodNotAllowed, RegistryErrorCodes.Unsupported,
                "this registry is read-only; push to another registry, or copy the image into the controller's registry folder.")))
            .ExcludeFromDescription();
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
