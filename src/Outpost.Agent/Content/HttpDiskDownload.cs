using System.Net;
using System.Security.Cryptography;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;

namespace Outpost.Agent.Content;

/// <summary>An HTTP datastore answered a disk download with an error status; retried with backoff like any failed download.</summary>
public sealed class HttpDatastoreException(string message, HttpStatusCode? status, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The status the server answered; null when no answer came.</summary>
    public HttpStatusCode? Status { get; } = status;
}

/// <summary>
/// One GET of a disk image from an HTTP(S) datastore, streamed to a file and hashed on the way: a disk may be far
/// larger than the agent's memory, and reading it a second time to hash it would double the time to a LOADED tree.
/// </summary>
internal static class HttpDiskDownload
{
    private const int BufferSize = 1 << 20;

    /// <summary>Sends the GET and returns the response once its headers are in, refusing an error status or an announced size over <paramref name="maxBytes"/>.</summary>
    /// <exception cref="HttpDatastoreException">The server answered with an error status.</exception>
    /// <exception cref="QuotaExceededException">Its Content-Length is over <paramref name="maxBytes"/>.</exception>
    public static async Task<HttpResponseMessage> OpenAsync(HttpClient http, HttpDiskSource source, long maxBytes, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, source.Url);
        // EVE's rule for HTTP datastores: apiKey is the auth scheme (Bearer, Basic...), password its credentials.
        if (source.Datastore.Username.Length > 0)
        {
            request.Headers.TryAddWithoutValidation("Authorization", $"{source.Datastore.Username} {source.Datastore.Password}".TrimEnd());
        }

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        try
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpDatastoreException(
                    $"The HTTP datastore answered {(int)response.StatusCode} {response.ReasonPhrase} for {Redacted(source.Url)}; check that the file is there "
                    + "(and the datastore's credentials). Retrying later.", response.StatusCode);
            }

            if (response.Content.Headers.ContentLength is { } length && length > maxBytes)
            {
                throw new QuotaExceededException($"The disk at {Redacted(source.Url)}", maxBytes, length);
            }

            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Streams the body into <paramref name="target"/> (created new), hashing it and stopping as soon as it passes
    /// <paramref name="maxBytes"/> (a server may send more than it announced, or announce nothing). The file is
    /// flushed to disk before the digest is returned; on any failure it is deleted.
    /// </summary>
    /// <exception cref="QuotaExceededException">More than <paramref name="maxBytes"/> came.</exception>
    /// <exception cref="HttpDatastoreException">No byte came for <paramref name="stallTimeout"/>, or fewer than announced.</exception>
    public static async Task<(OciDigest Digest, long Bytes)> SaveAsync(
        HttpResponseMessage response, Uri url, string target, long maxBytes, TimeSpan stallTimeout, IProgress<long> progress, CancellationToken cancellationToken)
    {
        // A server that stops sending without closing would otherwise hold the tree in DOWNLOAD_STARTED for ever.
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long bytes = 0;
            await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
            await using (var file = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, useAsync: true))
            {
                var buffer = new byte[BufferSize];
                int read;
                while ((read = await ReadAsync(body, buffer, stall, stallTimeout).ConfigureAwait(false)) > 0)
                {
                    bytes += read;
                    if (bytes > maxBytes)
                    {
                        throw new QuotaExceededException($"The disk at {Redacted(url)}", maxBytes, bytes);
                    }

                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    progress.Report(bytes);
                }

                file.Flush(flushToDisk: true);
            }

            if (response.Content.Headers.ContentLength is { } announced && announced != bytes)
            {
                throw new HttpDatastoreException($"The HTTP datastore announced {announced} bytes for {Redacted(url)} but sent {bytes}. Retrying; the download starts over.", response.StatusCode);
            }

            return (OciDigest.FromSha256(hash.GetHashAndReset()), bytes);
        }
        catch (OperationCanceledException) when (stall.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            File.Delete(target);
            throw new HttpDatastoreException(
                $"The HTTP datastore sent nothing for {stallTimeout.TotalSeconds} s while sending {Redacted(url)}. Retrying; the download starts over.", response.StatusCode);
        }
        catch
        {
            File.Delete(target);
            throw;
        }
    }

    private static async Task<int> ReadAsync(Stream body, byte[] buffer, CancellationTokenSource stall, TimeSpan stallTimeout)
    {
        stall.CancelAfter(stallTimeout);
        return await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
    }

    /// <summary>The URL without its query string, which may carry a signature or token.</summary>
    internal static string Redacted(Uri url) => url.GetLeftPart(UriPartial.Path);
}
