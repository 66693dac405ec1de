using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>What the proxy does to blob bodies on their way to the agent.</summary>
public enum BlobFault
{
    None,

    /// <summary>Flip one byte in the middle of every blob (length unchanged): a digest mismatch.</summary>
    Corrupt,

    /// <summary>Serve only the first half of every blob and claim that is all there is: a truncated blob.</summary>
    Truncate,
}

/// <summary>
/// A plain-HTTP Kestrel proxy on 127.0.0.1 in front of a real registry, to make downloads fail the ways networks and
/// registries fail: corrupt or truncated blobs, a slow line, or the registry gone altogether (<see cref="Down"/>).
/// Images are referenced through <see cref="Host"/>, so the controller gives the device a datastore pointing here.
/// </summary>
public sealed class FaultyRegistryProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private readonly string _upstreamHost;
    private long _blobBytesSent;

    private FaultyRegistryProxy(WebApplication app, string upstreamHost)
    {
        _app = app;
        _upstreamHost = upstreamHost;
    }

    public BlobFault Fault { get; set; }

    /// <summary>Blob bytes per second; 0 is unthrottled.</summary>
    public long BytesPerSecond { get; set; }

    /// <summary>While true every connection is dropped at once, as if the registry were gone.</summary>
    public bool Down { get; set; }

    public string Host { get; private set; } = "";

    public long BlobBytesSent => Interlocked.Read(ref _blobBytesSent);

    /// <summary>The first byte of every ranged blob request: proof that a download resumed instead of restarting.</summary>
    public ConcurrentQueue<long> RangeStarts { get; } = new();

    public static async Task<FaultyRegistryProxy> StartAsync(string upstreamHost)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var proxy = new FaultyRegistryProxy(app, upstreamHost);
        app.Run(proxy.HandleAsync);
        await app.StartAsync();
        proxy.Host = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Authority;
        return proxy;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (Down)
        {
            context.Abort();
            return;
        }

        var request = context.Request;
        var isBlobGet = request.Method == "GET" && request.Path.Value!.Contains("/blobs/sha256:", StringComparison.Ordinal);
        if (isBlobGet && RangeHeaderValue.TryParse(request.Headers.Range.ToString(), out var range) && range.Ranges.First().From is { } from)
        {
            RangeStarts.Enqueue(from);
        }

        using var upstreamRequest = new HttpRequestMessage(new HttpMethod(request.Method), $"http://{_upstreamHost}{request.Path}{request.QueryString}");
        foreach (var (name, value) in request.Headers)
        {
            if (name is not ("Host" or "Content-Length" or "Content-Type" or "Transfer-Encoding"))
            {
                upstreamRequest.Headers.TryAddWithoutValidation(name, value.ToArray());
            }
        }

        using var response = await _upstream.SendAsync(upstreamRequest, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            if (header.Key is not "Transfer-Encoding")
            {
                context.Response.Headers[header.Key] = header.Value.ToArray();
            }
        }

        if (request.Method == "HEAD")
        {
            return;
        }

        await using var body = await response.Content.ReadAsStreamAsync(context.RequestAborted);
        if (!isBlobGet || !response.IsSuccessStatusCode)
        {
            await body.CopyToAsync(context.Response.Body, context.RequestAborted);
            return;
        }

        await SendBlobAsync(context, body, response.Content.Headers.ContentLength ?? 0);
    }

    private async Task SendBlobAsync(HttpContext context, Stream body, long length)
    {
        var limit = length;
        if (Fault == BlobFault.Truncate)
        {
            limit = length / 2;
            context.Response.Headers.ContentLength = limit;
            context.Response.Headers.Remove("Content-Range");
            context.Response.StatusCode = 200;
        }

        var buffer = new byte[16 * 1024];
        long sent = 0;
        var started = DateTime.UtcNow;
        int n;
        while (sent < limit && (n = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, limit - sent)), context.RequestAborted)) > 0)
        {
            if (Down)
            {
                context.Abort();
                return;
            }

            if (Fault == BlobFault.Corrupt && sent <= length / 2 && length / 2 < sent + n)
            {
                buffer[length / 2 - sent] ^= 0xFF;
            }

            await context.Response.Body.WriteAsync(buffer.AsMemory(0, n), context.RequestAborted);
            sent += n;
            Interlocked.Add(ref _blobBytesSent, n);
            if (BytesPerSecond > 0)
            {
                var due = started + TimeSpan.FromSeconds((double)sent / BytesPerSecond);
                if (due > DateTime.UtcNow)
                {
                    await Task.Delay(due - DateTime.UtcNow, context.RequestAborted);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
