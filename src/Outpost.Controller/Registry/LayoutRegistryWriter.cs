using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;

namespace Outpost.Controller.Registry;

/// <summary>
/// The push side of the controller's registry: upload sessions (POST, PATCH, PUT with <c>?digest=</c>, or one POST
/// with <c>?digest=</c>) whose bytes are checked against their digest before they become a blob of the layout, and
/// manifests that are stored only when every blob they name is there, then tagged <c>name:tag</c> in
/// <c>index.json</c>. Sessions live as files in their own folder beside the layout, so a half-sent blob is never seen.
/// </summary>
internal sealed class LayoutRegistryWriter(string layoutPath, string uploadsPath)
{
    /// <summary>The same bound the registry client applies to one blob.</summary>
    public const long MaxBlobBytes = 64L * 1024 * 1024 * 1024;

    /// <summary>The same bound the registry client applies to a manifest.</summary>
    public const int MaxManifestBytes = 4 * 1024 * 1024;

    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromDays(1);

    // index.json is read, changed and written whole; one writer at a time in this process.
    private readonly SemaphoreSlim _indexLock = new(1, 1);

    public string LayoutPath { get; } = layoutPath;

    /// <summary>Opens a session and returns its id; sessions nobody finished within a day are dropped here.</summary>
    public string StartUpload()
    {
        Directory.CreateDirectory(uploadsPath);
        foreach (var stale in new DirectoryInfo(uploadsPath).EnumerateFiles().Where(f => DateTime.UtcNow - f.LastWriteTimeUtc > AbandonedAfter))
        {
            stale.Delete();
        }

        var id = Guid.NewGuid().ToString("N");
        File.Create(SessionPath(id)).Dispose();
        return id;
    }

    /// <summary>Appends a chunk; returns the session's size so far.</summary>
    public async Task<long> AppendAsync(string id, Stream body, CancellationToken ct)
    {
        var path = ExistingSession(id);
        await using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
        await CopyBoundedAsync(body, file, ct);
        return file.Length;
    }

    /// <summary>Appends the last chunk, checks the whole upload against <paramref name="expected"/> and stores it.</summary>
    public async Task<Descriptor> FinishAsync(string id, Stream body, OciDigest expected, CancellationToken ct)
    {
        if (expected.Algorithm != "sha256")
        {
            throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.DigestInvalid, $"only sha256 digests are accepted, not {expected}.");
        }

        await AppendAsync(id, body, ct);
        var path = SessionPath(id);
        try
        {
            OciDigest actual;
            long size;
            await using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, 1 << 20, useAsync: true))
            {
                size = file.Length;
                actual = await OciDigest.ComputeAsync(file, ct);
            }

            if (actual != expected)
            {
                throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.DigestInvalid,
                    $"the uploaded content is {actual}, not {expected}; nothing was stored.");
            }

            var layout = await OciLayout.CreateAsync(LayoutPath, ct);
            var target = layout.GetBlobPath(expected);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(path, target, overwrite: true);
            return new Descriptor { MediaType = "application/octet-stream", Digest = expected, Size = size };
        }
        finally
        {
            File.Delete(path);
        }
    }

    public bool CancelUpload(string id)
    {
        var path = SessionPath(id);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    /// <summary>
    /// Stores a manifest or index pushed to <paramref name="name"/> under <paramref name="reference"/> (a tag, or the
    /// digest of the content) and returns its digest.
    /// </summary>
    public async Task<OciDigest> PutManifestAsync(string name, string reference, string? contentType, byte[] content, CancellationToken ct)
    {
        var digest = OciDigest.Compute(content);
        if (OciDigest.TryParse(reference, out var pinned) && pinned != digest)
        {
            throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.DigestInvalid,
                $"the manifest is {digest}, not {pinned} as its URL says.");
        }

        var mediaType = OciJson.PeekMediaType(content) ?? contentType;
        if (!MediaTypes.IsManifest(mediaType) && !MediaTypes.IsIndex(mediaType))
        {
            throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.ManifestInvalid,
                $"media type '{mediaType}' is neither an OCI or Docker schema-2 manifest nor an index.");
        }

        var layout = await OciLayout.CreateAsync(LayoutPath, ct);
        List<Descriptor> referenced;
        try
        {
            if (MediaTypes.IsIndex(mediaType))
            {
                referenced = [.. OciJson.Deserialize<ImageIndex>(content, "the pushed index").Manifests];
            }
            else
            {
                var manifest = OciJson.Deserialize<ImageManifest>(content, "the pushed manifest");
                referenced = [manifest.Config, .. manifest.Layers];
            }
        }
        catch (UnsupportedContentException e)
        {
            throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.ManifestInvalid, e.Message);
        }

        if (referenced.FirstOrDefault(d => !layout.HasBlob(d.Digest)) is { } missing)
        {
            throw new RegistryLookupException(StatusCodes.Status400BadRequest, RegistryErrorCodes.ManifestBlobUnknown,
                $"the manifest names {missing.Digest} ({missing.MediaType}), which was not pushed first.");
        }

        var descriptor = await layout.WriteBlobAsync(mediaType!, content, ct);
        if (!OciDigest.TryParse(reference, out _))
        {
            // A manifest pushed by digest (an index's child) becomes reachable through the index's tag.
            await _indexLock.WaitAsync(ct);
            try
            {
                await layout.TagAsync($"{name}:{reference}", descriptor, ct);
            }
            finally
            {
                _indexLock.Release();
            }
        }

        return descriptor.Digest;
    }

    private string SessionPath(string id) => Path.Combine(uploadsPath, id);

    private string ExistingSession(string id)
    {
        var path = SessionPath(id);
        return File.Exists(path)
            ? path
            : throw new RegistryLookupException(StatusCodes.Status404NotFound, RegistryErrorCodes.BlobUploadUnknown,
                $"upload '{id}' is unknown (finished, cancelled or never started); start one with POST /v2/<name>/blobs/uploads/.");
    }

    private static async Task CopyBoundedAsync(Stream body, FileStream file, CancellationToken ct)
    {
        var buffer = new byte[1 << 16];
        int read;
        while ((read = await body.ReadAsync(buffer, ct)) > 0)
        {
            if (file.Length + read > MaxBlobBytes)
            {
                throw new RegistryLookupException(StatusCodes.Status413PayloadTooLarge, RegistryErrorCodes.SizeInvalid,
                    $"a blob may be at most {MaxBlobBytes} bytes.");
            }

            await file.WriteAsync(buffer.AsMemory(0, read), ct);
        }

        await file.FlushAsync(ct);
        file.Flush(flushToDisk: true);
    }
}
