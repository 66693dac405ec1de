using System.Diagnostics;
using System.Net;

namespace Outpost.Oci.Tests.Infrastructure;

/// <summary>
/// Debian's <c>docker-registry</c> (CNCF distribution) on 127.0.0.1 with storage in a temp dir; optionally behind
/// htpasswd basic auth. Killed and cleaned up on dispose.
/// </summary>
public sealed class RegistryServer : IDisposable
{
    private readonly TempDirectory _dir = new("registry");
    private readonly Process _process;
    private bool _disposed;

    private RegistryServer(int port, string? htpasswdLine)
    {
        Port = port;
        var auth = "";
        if (htpasswdLine is not null)
        {
            File.WriteAllText(_dir.Sub("htpasswd"), htpasswdLine);
            auth = $"auth:\n  htpasswd:\n    realm: outpost-test\n    path: {_dir.Sub("htpasswd")}\n";
        }
        var config = $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {_dir.Sub("data")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            {auth}
            """;
        File.WriteAllText(_dir.Sub("config.yml"), config);
        var start = new ProcessStartInfo(ExternalTool.Require("docker-registry")) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(_dir.Sub("config.yml"));
        _process = Process.Start(start)!;
        // Drain output so the registry never blocks on a full pipe.
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Port { get; }

    /// <summary>The registry name to use in image references, e.g. <c>127.0.0.1:5123</c>.</summary>
    public string Host => $"127.0.0.1:{Port}";

    public static async Task<RegistryServer> StartAsync(string? htpasswdLine = null)
    {
        var server = new RegistryServer(FreePort.Next(), htpasswdLine);
        try
        {
            await server.WaitUntilReadyAsync();
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient();
        for (var attempt = 0; attempt < 150; attempt++)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode} before serving; config: {File.ReadAllText(_dir.Sub("config.yml"))}");
            try
            {
                using var response = await http.GetAsync($"http://{Host}/v2/");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException("docker-registry did not answer /v2/ within 15 seconds.");
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
            _dir.Dispose();
        }
    }
}
