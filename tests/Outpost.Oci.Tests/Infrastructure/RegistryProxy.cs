using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Outpost.Oci.Tests.Infrastructure;

/// <summary>What the proxy does to blob downloads.</summary>
public enum BlobFault
{
    None,

    /// <summary>Flip one byte in the middle of every blob body (length unchanged).</summary>
    Corrupt,

    /// <summary>Abort the first blob response after <see cref="RegistryProxy.CutAfterBytes"/> bytes; later ones pass.</summary>
    CutOnce,
}

/// <summary>
/// A Kestrel reverse proxy on 127.0.0.1 in front of a real registry, to inject faults into blob downloads and, when
/// asked, demand Bearer tokens that it issues itself from <c>/token</c> (checking Basic credentials).
/// </summary>
public sealed class RegistryProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private readonly string _upstreamHost;
    private readonly ConcurrentDictionary<string, bool> _issuedTokens = new();
    private int _cutsDone;
    private long _blobBytesSent;
    private int _tokensIssued;

    private RegistryProxy(WebApplication app, string upstreamHost)
    {
        _app = app;
        _upstreamHost = upstreamHost;
    }

    public BlobFault Fault { get; init; }
    public long CutAfterBytes { get; init; }

    /// <summary>When set, every registry request needs a token from /token obtained with these credentials.</summary>
    public (string User, string Password)? TokenCredentials { get; init; }

    /// <summary>Basic credentials the proxy itself presents to the registry behind it.</summary>
    public (string User, string Password)? UpstreamCredentials { get; init; }

    public string Host { get; private set; } = "";
    public long BlobBytesSent => Interlocked.Read(ref _blobBytesSent);
    public int TokensIssued => _tokensIssued;
    public ConcurrentQueue<string> RangeHeaders { get; } = new();
    public ConcurrentQueue<string> TokenScopes { get; } = new();

    public static async Task<RegistryProxy> StartAsync(string upstreamHost, BlobFault fault = BlobFault.None, long cutAfterBytes = 0, (string, string)? tokenCredentials = null, (string, string)? upstreamCredentials = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var proxy = new RegistryProxy(app, upstreamHost) { Fault = fault, CutAfterBytes = cutAfterBytes, TokenCredentials = tokenCredentials, UpstreamCredentials = upstreamCredentials };
        app.Run(proxy.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        proxy.Host = new Uri(address).Authority;
        return proxy;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path == "/token")
        {
            await IssueTokenAsync(context);
            return;
        }
        if (TokenCredentials is not null && !HasValidToken(context.Request))
        {
            var repository = context.Request.Path.Value!.Split('/').Skip(2).TakeWhile(p => p is not ("manifests" or "blobs" or "tags"));
            context.Response.StatusCode = 401;
            context.Response.Headers.WWWAuthenticate =
                $"Bearer realm=\"http://{Host}/token\",service=\"outpost-test\",scope=\"repository:{string.Join('/', repository)}:pull\"";
            return;
        }
        await ForwardAsync(context);
    }

    private bool HasValidToken(HttpRequest request) =>
        AuthenticationHeaderValue.TryParse(request.Headers.Authorization, out var header)
        && header.Scheme == "Bearer" && header.Parameter is { } token && _issuedTokens.ContainsKey(token);

    private async Task IssueTokenAsync(HttpContext context)
    {
        var expected = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TokenCredentials?.User}:{TokenCredentials?.Password}"));
        if (!AuthenticationHeaderValue.TryParse(context.Request.Headers.Authorization, out var header) || header.Scheme != "Basic" || header.Parameter != expected)
        {
            context.Response.StatusCode = 401;
            return;
        }
        TokenScopes.Enqueue(context.Request.Query["scope"].ToString());
        var token = Guid.NewGuid().ToString("N");
        _issuedTokens[token] = true;
        Interlocked.Increment(ref _tokensIssued);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($"{{\"token\":\"{token}\",\"expires_in\":300}}");
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var request = context.Request;
        var isBlobGet = request.Method == "GET" && request.Path.Value!.Contains("/blobs/sha256:");
        if (isBlobGet && request.Headers.Range.Count > 0)
            RangeHeaders.Enqueue(request.Headers.Range.ToString());

        using var upstreamRequest = new HttpRequestMessage(new HttpMethod(request.Method), $"http://{_upstreamHost}{request.Path}{request.QueryString}");
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            upstreamRequest.Content = new StreamContent(request.Body);
            if (request.ContentType is { } contentType)
                upstreamRequest.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            if (request.ContentLength is { } length)
                upstreamRequest.Content.Headers.ContentLength = length;
        }
        foreach (var (name, value) in request.Headers)
        {
            if (name is "Host" or "Authorization" or "Content-Length" or "Content-Type" or "Transfer-Encoding")
                continue;
            upstreamRequest.Headers.TryAddWithoutValidation(name, value.ToArray());
        }
        if (UpstreamCredentials is var (user, password))
            upstreamRequest.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        // The registry builds upload Location URLs from Host; keep them pointing at the proxy.
        upstreamRequest.Headers.Host = Host;

        using var response = await _upstream.SendAsync(upstreamRequest, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            if (header.Key is "Transfer-Encoding")
                continue;
            context.Response.Headers[header.Key] = header.Value.ToArray();
        }
        if (request.Method == "HEAD")
            return;
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
        var cutThisOne = Fault == BlobFault.CutOnce && Interlocked.Increment(ref _cutsDone) == 1;
        var buffer = new byte[8192];
        long sent = 0;
        int n;
        while ((n = await body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            if (Fault == BlobFault.Corrupt && sent <= length / 2 && length / 2 < sent + n)
                buffer[length / 2 - sent] ^= 0xFF;
            if (cutThisOne && sent + n > CutAfterBytes)
            {
                var keep = (int)(CutAfterBytes - sent);
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, keep));
                await context.Response.Body.FlushAsync();
                Interlocked.Add(ref _blobBytesSent, keep);
                context.Abort();
                return;
            }
            await context.Response.Body.WriteAsync(buffer.AsMemory(0, n), context.RequestAborted);
            sent += n;
            Interlocked.Add(ref _blobBytesSent, n);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
