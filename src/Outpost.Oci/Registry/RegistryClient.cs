using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.References;
using Polly;
using Polly.Retry;

namespace Outpost.Oci.Registry;

/// <summary>
/// A client for the OCI distribution (Docker registry v2) API: manifests, indexes with platform selection, verified
/// and resumable blob downloads, and pushes. Thread-safe; share one instance.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    private const int CopyBufferSize = 81920;

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly RegistryClientOptions _options;
    private readonly RegistryAuthenticator _authenticator;
    private readonly ResiliencePipeline _retry;
    private readonly ILogger _logger;

    /// <param name="options">Credentials, insecure registries, retry and size limits.</param>
    /// <param name="httpClient">An HttpClient to use (not disposed by this client); by default one is created.</param>
    /// <param name="logger">Where retries and resumes are logged.</param>
    public RegistryClient(RegistryClientOptions? options = null, HttpClient? httpClient = null, ILogger<RegistryClient>? logger = null)
    {
        _options = options ?? new RegistryClientOptions();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _ownsHttp = httpClient is null;
        // Blob transfers can take long; a request lives as long as data keeps flowing or the caller cancels.
        _http = httpClient ?? new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30), AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _authenticator = new RegistryAuthenticator(_http, _options);
        _retry = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = Math.Max(1, _options.MaxRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.InitialRetryDelay,
                ShouldHandle = new PredicateBuilder()
                    .Handle<HttpRequestException>()
                    .Handle<IOException>()
                    .Handle<TransientRegistryException>(),
                OnRetry = args =>
                {
                    Log.Retrying(_logger, args.Outcome.Exception?.Message ?? "unknown", args.AttemptNumber + 1, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    /// <summary>Fetches the manifest or index that <paramref name="reference"/> names; a digest reference is verified.</summary>
    public Task<ManifestResponse> GetManifestAsync(ImageReference reference, CancellationToken cancellationToken = default) =>
        _retry.ExecuteAsync(token => new ValueTask<ManifestResponse>(GetManifestOnceAsync(reference, token)), cancellationToken).AsTask();

    /// <summary>
    /// Resolves a reference to a single-platform manifest, following an index to the entry for <paramref name="platform"/>
    /// (default linux/amd64). Throws <see cref="PlatformNotFoundException"/> when the index lacks that platform.
    /// </summary>
    public async Task<RemoteImage> ResolveImageAsync(ImageReference reference, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        var top = await GetManifestAsync(reference, cancellationToken);
        if (!top.IsIndex)
            return new RemoteImage(reference, top, ParseManifest(top, reference), null);
        var index = OciJson.Deserialize<ImageIndex>(top.Content, $"index of {reference}");
        var chosen = PlatformSelector.Select(index, platform ?? Platform.LinuxAmd64, reference.ToString());
        var manifest = await GetManifestAsync(reference.WithDigest(chosen.Digest), cancellationToken);
        if (manifest.IsIndex)
            throw new UnsupportedContentException($"Image {reference} nests an index inside its index; that is not supported.");
        return new RemoteImage(reference, manifest, ParseManifest(manifest, reference), top);
    }

    /// <summary>Whether the repository has the blob (HEAD request).</summary>
    public Task<bool> BlobExistsAsync(ImageReference repository, OciDigest digest, CancellationToken cancellationToken = default) =>
        _retry.ExecuteAsync(async token =>
        {
            using var response = await SendAsync(repository, push: false, () => new HttpRequestMessage(HttpMethod.Head, BlobUri(repository, digest)), token);
            if (response.StatusCode == HttpStatusCode.NotFound)
                return false;
            EnsureSuccess(response, repository, $"blob {digest}");
            return true;
        }, cancellationToken).AsTask();

    /// <summary>Downloads a small blob (e.g. a config) into memory and verifies it.</summary>
    public async Task<byte[]> GetBlobBytesAsync(ImageReference repository, Descriptor blob, CancellationToken cancellationToken = default)
    {
        if (blob.Size > _options.MaxManifestBytes)
            throw new QuotaExceededException($"Blob {blob.Digest}", _options.MaxManifestBytes, blob.Size);
        var temp = Path.Combine(Path.GetTempPath(), "outpost-blob-" + Guid.NewGuid().ToString("N"));
        try
        {
            await DownloadBlobAsync(repository, blob, temp, null, cancellationToken);
            return await File.ReadAllBytesAsync(temp, cancellationToken);
        }
        finally
        {
            File.Delete(temp);
            File.Delete(temp + ".partial");
        }
    }

    /// <summary>
    /// Downloads a blob to <paramref name="destinationPath"/>, verifying size and SHA-256 while streaming. Data goes to
    /// <c>destinationPath.partial</c> first; after a cut the next attempt (or a later call) continues from its length
    /// with an HTTP Range request. On a digest mismatch the partial file is deleted and
    /// <see cref="DigestMismatchException"/> is thrown. <paramref name="progress"/> receives the bytes of this blob on disk so far.
    /// </summary>
    public async Task DownloadBlobAsync(
        ImageReference repository, Descriptor blob, string destinationPath, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        blob.Digest.EnsureSha256();
        if (blob.Size > _options.MaxBlobBytes)
            throw new QuotaExceededException($"Blob {blob.Digest}", _options.MaxBlobBytes, blob.Size);
        await _retry.ExecuteAsync(
            token => new ValueTask(DownloadBlobOnceAsync(repository, blob, destinationPath, progress, token)), cancellationToken);
    }

    /// <summary>
    /// Uploads a blob unless the repository already has it (HEAD), using POST then a monolithic PUT.
    /// <paramref name="openContent"/> may be called again on retry. Returns false when the upload was skipped.
    /// </summary>
    public async Task<bool> UploadBlobAsync(ImageReference repository, Descriptor blob, Func<Stream> openContent, CancellationToken cancellationToken = default)
    {
        if (await BlobExistsAsync(repository, blob.Digest, cancellationToken))
        {
            Log.BlobExists(_logger, blob.Digest.ToString(), repository.Name);
            return false;
        }
        await _retry.ExecuteAsync(async token =>
        {
            Uri location;
            using (var start = await SendAsync(repository, push: true, () => new HttpRequestMessage(HttpMethod.Post, new Uri(RepositoryBase(repository), "blobs/uploads/")), token))
            {
                EnsureSuccess(start, repository, "blob upload");
                location = ResolveLocation(start, repository);
            }
            var putUri = AppendQuery(location, "digest=" + Uri.EscapeDataString(blob.Digest.ToString()));
            using var put = await SendAsync(repository, push: true, () =>
            {
                var content = new StreamContent(openContent(), CopyBufferSize);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                content.Headers.ContentLength = blob.Size;
                return new HttpRequestMessage(HttpMethod.Put, putUri) { Content = content };
            }, token);
            if (put.StatusCode == HttpStatusCode.BadRequest)
                throw new DigestMismatchException($"upload of {blob.Digest} to {repository.Name}", blob.Digest.ToString(), "content the registry rejected: " + await ReadErrorAsync(put, token));
            EnsureSuccess(put, repository, $"blob {blob.Digest}");
        }, cancellationToken);
        return true;
    }

    /// <summary>Uploads bytes as a blob (see <see cref="UploadBlobAsync(ImageReference, Descriptor, Func{Stream}, CancellationToken)"/>).</summary>
    public Task<bool> UploadBlobAsync(ImageReference repository, Descriptor blob, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        UploadBlobAsync(repository, blob, () => new MemoryStream(content.ToArray(), writable: false), cancellationToken);

    /// <summary>
    /// Stores a manifest or index under <paramref name="target"/>'s tag (or digest) and returns its digest.
    /// Every blob it references must be pushed first.
    /// </summary>
    public async Task<OciDigest> PutManifestAsync(ImageReference target, string mediaType, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var digest = OciDigest.Compute(content.Span);
        if (target.Digest is { } pinned && pinned != digest)
            throw new DigestMismatchException($"manifest for {target}", pinned.ToString(), digest.ToString());
        var uri = new Uri(RepositoryBase(target), "manifests/" + (target.Tag ?? digest.ToString()));
        await _retry.ExecuteAsync(async token =>
        {
            using var response = await SendAsync(target, push: true, () =>
            {
                var body = new ByteArrayContent(content.ToArray());
                body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                return new HttpRequestMessage(HttpMethod.Put, uri) { Content = body };
            }, token);
            if (response.StatusCode == HttpStatusCode.BadRequest)
                throw new RegistryException($"Registry {target.Registry} rejected the manifest for {target}: {await ReadErrorAsync(response, token)}. Push every referenced blob first and check the media type.", response.StatusCode);
            EnsureSuccess(response, target, "manifest");
        }, cancellationToken);
        return digest;
    }

    public void Dispose()
    {
        if (_ownsHttp)
            _http.Dispose();
    }

    private async Task<ManifestResponse> GetManifestOnceAsync(ImageReference reference, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(reference, push: false, () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, new Uri(RepositoryBase(reference), "manifests/" + reference.ManifestReference));
            foreach (var mediaType in MediaTypes.ManifestAccept)
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mediaType));
            return request;
        }, cancellationToken, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new ManifestNotFoundException(reference.ToString());
        EnsureSuccess(response, reference, "manifest");
        if (response.Content.Headers.ContentLength > _options.MaxManifestBytes)
            throw new QuotaExceededException($"Manifest of {reference}", _options.MaxManifestBytes, response.Content.Headers.ContentLength.Value);
        var content = await ReadLimitedAsync(response.Content, _options.MaxManifestBytes, $"Manifest of {reference}", cancellationToken);
        var digest = OciDigest.Compute(content);
        if (reference.Digest is { } expected && expected != digest)
            throw new DigestMismatchException($"manifest {reference}", expected.ToString(), digest.ToString());
        var mediaType = OciJson.PeekMediaType(content) ?? response.Content.Headers.ContentType?.MediaType;
        if (!MediaTypes.IsIndex(mediaType) && !MediaTypes.IsManifest(mediaType))
            throw new UnsupportedContentException($"Manifest of {reference} has media type '{mediaType}', which is not an OCI or Docker schema-2 manifest or index.");
        return new ManifestResponse(content, mediaType!, digest);
    }

    private async Task DownloadBlobOnceAsync(ImageReference repository, Descriptor blob, string destinationPath, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var partialPath = destinationPath + ".partial";
        long offset = File.Exists(partialPath) ? new FileInfo(partialPath).Length : 0;
        if (offset > blob.Size)
        {
            File.Delete(partialPath);
            offset = 0;
        }
        if (offset > 0)
            Log.Resuming(_logger, blob.Digest.ToString(), offset);

        using var response = await SendAsync(repository, push: false, () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, BlobUri(repository, blob.Digest));
            if (offset > 0)
                request.Headers.Range = new RangeHeaderValue(offset, null);
            return request;
        }, cancellationToken, HttpCompletionOption.ResponseHeadersRead);

        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new BlobNotFoundException(repository.Name, blob.Digest.ToString());
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The partial file cannot be continued; start over on the next attempt.
            File.Delete(partialPath);
            throw new TransientRegistryException($"Registry refused to resume blob {blob.Digest} at byte {offset}.", response.StatusCode);
        }
        EnsureSuccess(response, repository, $"blob {blob.Digest}");
        if (response.StatusCode != HttpStatusCode.PartialContent)
            offset = 0; // The server ignored the Range header and sends everything.

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var file = new FileStream(partialPath, offset > 0 ? FileMode.Open : FileMode.Create, FileAccess.ReadWrite, FileShare.None, CopyBufferSize, useAsync: true))
        {
            var buffer = new byte[CopyBufferSize];
            if (offset > 0)
            {
                // The digest covers the whole blob, so the bytes kept from earlier attempts are hashed first.
                long hashed = 0;
                int read;
                while (hashed < offset && (read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, offset - hashed)), cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    hashed += read;
                }
            }
            file.SetLength(offset);
            file.Position = offset;

            var total = offset;
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            int n;
            while ((n = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                total += n;
                if (total > blob.Size)
                {
                    await file.DisposeAsync();
                    File.Delete(partialPath);
                    throw new DigestMismatchException($"blob {blob.Digest} from {repository.Name}", $"{blob.Size} bytes", $"more than {blob.Size} bytes");
                }
                hash.AppendData(buffer, 0, n);
                await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                progress?.Report(total);
            }
            if (total < blob.Size)
            {
                // A clean end of stream before the announced size is a cut connection: keep the partial file and retry.
                await file.FlushAsync(cancellationToken);
                throw new IOException($"Blob {blob.Digest} transfer ended after {total} of {blob.Size} bytes.");
            }
            file.Flush(flushToDisk: true);
        }

        var actual = OciDigest.FromSha256(hash.GetHashAndReset());
        if (actual != blob.Digest)
        {
            File.Delete(partialPath);
            throw new DigestMismatchException($"blob from {repository.Name}", blob.Digest.ToString(), actual.ToString());
        }
        File.Move(partialPath, destinationPath, overwrite: true);
    }

    /// <summary>Sends a request, answering one authentication challenge with credentials or a token.</summary>
    private async Task<HttpResponseMessage> SendAsync(
        ImageReference repository, bool push, Func<HttpRequestMessage> createRequest, CancellationToken cancellationToken,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        var cacheKey = RegistryAuthenticator.CacheKey(repository.Registry, repository.Repository, push);
        using (var first = createRequest())
        {
            first.Headers.Authorization = _authenticator.GetCached(cacheKey);
            var response = await _http.SendAsync(first, completion, cancellationToken);
            if (response.StatusCode != HttpStatusCode.Unauthorized)
                return ThrowIfForbidden(response, repository);
            var challenge = AuthChallenge.From(response.Headers.WwwAuthenticate);
            response.Dispose();
            var header = await _authenticator.AuthenticateAsync(repository.Registry, repository.Repository, push, challenge, cancellationToken);
            using var second = createRequest();
            second.Headers.Authorization = header;
            var retried = await _http.SendAsync(second, completion, cancellationToken);
            if (retried.StatusCode == HttpStatusCode.Unauthorized)
            {
                retried.Dispose();
                throw new RegistryAuthException(repository.Registry, HttpStatusCode.Unauthorized, $"the credentials were not accepted for {repository.Repository}");
            }
            return ThrowIfForbidden(retried, repository);
        }
    }

    private static HttpResponseMessage ThrowIfForbidden(HttpResponseMessage response, ImageReference repository)
    {
        if (response.StatusCode != HttpStatusCode.Forbidden)
            return response;
        response.Dispose();
        throw new RegistryAuthException(repository.Registry, HttpStatusCode.Forbidden, $"the account may not access {repository.Repository}");
    }

    private static void EnsureSuccess(HttpResponseMessage response, ImageReference repository, string what)
    {
        if (response.IsSuccessStatusCode)
            return;
        var status = (int)response.StatusCode;
        if (status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
            throw new TransientRegistryException($"Registry {repository.Registry} answered {status} for {what} of {repository.Name}.", response.StatusCode);
        throw new RegistryException($"Registry {repository.Registry} answered {status} {response.ReasonPhrase} for {what} of {repository.Name}.", response.StatusCode);
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            using var doc = JsonDocument.Parse(text);
            var first = doc.RootElement.GetProperty("errors")[0];
            return $"{first.GetProperty("code").GetString()}: {first.GetProperty("message").GetString()}";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            return text.Length > 200 ? text[..200] : text;
        }
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpContent content, int limit, string what, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[CopyBufferSize];
        int n;
        while ((n = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + n > limit)
                throw new QuotaExceededException(what, limit, buffer.Length + n);
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    private ImageManifest ParseManifest(ManifestResponse response, ImageReference reference) =>
        OciJson.Deserialize<ImageManifest>(response.Content, $"manifest of {reference}");

    private Uri RepositoryBase(ImageReference reference) =>
        new(RegistryEndpoint.BaseUri(reference.Registry, _options.InsecureRegistries), $"v2/{reference.Repository}/");

    private Uri BlobUri(ImageReference repository, OciDigest digest) => new(RepositoryBase(repository), "blobs/" + digest);

    private Uri ResolveLocation(HttpResponseMessage response, ImageReference repository)
    {
        var location = response.Headers.Location
            ?? throw new RegistryException($"Registry {repository.Registry} started an upload without a Location header.");
        return location.IsAbsoluteUri ? location : new Uri(RegistryEndpoint.BaseUri(repository.Registry, _options.InsecureRegistries), location);
    }

    private static Uri AppendQuery(Uri uri, string pair)
    {
        var builder = new UriBuilder(uri);
        builder.Query = string.IsNullOrEmpty(builder.Query) || builder.Query == "?" ? pair : builder.Query.TrimStart('?') + "&" + pair;
        return builder.Uri;
    }
}
