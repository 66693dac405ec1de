using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// A plain-HTTP proxy on 127.0.0.1 in front of a registry: it passes requests through, and for one blob it can hand
/// out only part of the bytes (as a registry with a truncated blob file does: the length it declares is the cut one)
/// or trickle them out slowly, so that a download is seen in progress.
/// </summary>
public sealed class RegistryProxy : IAsyncDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private readonly string _upstream;
    private WebApplication? _app;

    private RegistryProxy(string upstream) => _upstream = upstream;

    public int Port { get; private set; }

    public string Host => $"127.0.0.1:{Port}";

    /// <summary>The blob (sha256 hex) served truncated to half its length.</summary>
    public string? TruncateBlob { get; set; }

    /// <summary>The blob (sha256 hex) served in 64 KiB pieces with <see cref="TrickleDelay"/> between them.</summary>
    public string? TrickleBlob { get; set; }

    public TimeSpan TrickleDelay { get; set; } = TimeSpan.FromMilliseconds(30);

    public int TruncatedResponses;

    public static async Task<RegistryProxy> StartAsync(string upstreamHost)
    {
        var proxy = new RegistryProxy(upstreamHost);
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            proxy.Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, proxy.Port));
        var app = builder.Build();
        app.Run(proxy.ForwardAsync);
        await app.StartAsync();
        proxy._app = app;
        return proxy;
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var request = context.Request;
        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), $"http://{_upstream}{request.Path}{request.QueryString}");
        foreach (var header in request.Headers)
        {
            if (header.Key is "Host" or "Content-Length" or "Content-Type" or "Transfer-Encoding")
            {
                continue;
            }

            forward.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
        }

        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            forward.Content = new StreamContent(request.Body);
            if (request.ContentType is { } type)
            {
                forward.Content.Headers.TryAddWithoutValidation("Content-Type", type);
            }
        }

        using var response = await _http.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            if (header.Key is "Transfer-Encoding" or "Content-Length")
            {
                continue;
            }

            context.Response.Headers[header.Key] = header.Value.ToArray();
        }

        var path = request.Path.Value ?? "";
        var blob = path.Contains("/blobs/sha256:", StringComparison.Ordinal) ? path[(path.LastIndexOf(':') + 1)..] : null;
        var body = await response.Content.ReadAsByteArrayAsync(context.RequestAborted);
        if (blob is not null && blob == TruncateBlob && request.Method == "GET" && response.IsSuccessStatusCode)
        {
            Interlocked.Increment(ref TruncatedResponses);
            body = body[..(body.Length / 2)];
        }

        if (request.Method == "HEAD")
        {
            context.Response.ContentLength = response.Content.Headers.ContentLength;
            return;
        }

        context.Response.ContentLength = body.Length;
        if (blob is not null && blob == TrickleBlob && request.Method == "GET")
        {
            for (var at = 0; at < body.Length; at += 64 * 1024)
            {
                await context.Response.Body.WriteAsync(body.AsMemory(at, Math.Min(64 * 1024, body.Length - at)), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(TrickleDelay, context.RequestAborted);
            }

            return;
        }

        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        _http.Dispose();
    }
}
