using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Outpost.Agent.Tests.Apps;

/// <summary>
/// A plain-HTTP web server on 127.0.0.1 (Kestrel) serving the files of a temp directory, the way an HTTP datastore
/// does. A test can make it answer every request with an error status, or send bodies without a Content-Length
/// (chunked), and can wait for the n-th request to come in.
/// </summary>
public sealed class TestFileServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _requests = new();
    private WebApplication? _app;

    private readonly bool _https;

    private TestFileServer(string directory, bool https)
    {
        Directory = directory;
        _https = https;
    }

    /// <summary>What it serves: GET /a/b is the file a/b below this directory.</summary>
    public string Directory { get; }

    public int Port { get; private set; }

    /// <summary>http(s)://127.0.0.1:PORT, the datastore's fqdn.</summary>
    public string Origin => $"{(_https ? "https" : "http")}://127.0.0.1:{Port}";

    /// <summary>When set, every request is answered with this status and no body.</summary>
    public HttpStatusCode? FailWith { get; set; }

    /// <summary>When true, files are sent chunked, without a Content-Length.</summary>
    public bool Chunked { get; set; }

    /// <summary>When set, a file's first this many bytes are sent, then nothing until the client gives up.</summary>
    public int? StallAfterBytes { get; set; }

    /// <summary>The paths requested so far, in order.</summary>
    public IReadOnlyList<string> Requests => _requests.ToList();

    /// <param name="tls">Serve HTTPS with this certificate (for 127.0.0.1) instead of plain HTTP.</param>
    public static async Task<TestFileServer> StartAsync(Fixtures.IssuedCertificate? tls = null)
    {
        var server = new TestFileServer(System.IO.Directory.CreateTempSubdirectory("outpost-files-").FullName, tls is not null);
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            server.Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, server.Port, listen =>
        {
            if (tls is not null)
            {
                listen.UseHttps(tls.WithKey());
            }
        }));
        var app = builder.Build();
        app.Run(server.ServeAsync);
        await app.StartAsync();
        server._app = app;
        return server;
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="relativePath"/> below <see cref="Directory"/>; returns the copy's path.</summary>
    public string Add(string relativePath, string source)
    {
        var target = Path.Combine(Directory, relativePath);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Copy(source, target, overwrite: true);
        return target;
    }

    public async Task WaitForRequestsAsync(int count)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (_requests.Count < count)
        {
            Assert.True(watch.Elapsed < AppTestHost.Bound, $"expected {count} requests within {AppTestHost.Bound.TotalSeconds} s; got {_requests.Count}");
            await Task.Delay(20);
        }
    }

    private async Task ServeAsync(HttpContext context)
    {
        _requests.Enqueue(context.Request.Path.Value ?? "");
        if (FailWith is { } status)
        {
            context.Response.StatusCode = (int)status;
            return;
        }

        var file = Path.GetFullPath(Path.Combine(Directory, (context.Request.Path.Value ?? "").TrimStart('/')));
        if (!file.StartsWith(Directory + "/", StringComparison.Ordinal) || !File.Exists(file))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        context.Response.ContentType = "application/octet-stream";
        if (!Chunked)
        {
            context.Response.ContentLength = new FileInfo(file).Length;
        }

        await using var content = File.OpenRead(file);
        if (StallAfterBytes is { } stallAfter)
        {
            var head = new byte[stallAfter];
            var read = await content.ReadAtLeastAsync(head, stallAfter, throwOnEndOfStream: false);
            await context.Response.Body.WriteAsync(head.AsMemory(0, read), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }

            return;
        }

        await content.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
