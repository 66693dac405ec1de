using System.Diagnostics;
using System.Net;

namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>
/// Debian's docker-registry (CNCF distribution) on 127.0.0.1 with storage in a temp dir, optionally behind htpasswd
/// basic auth. Adapted from tests/Outpost.Oci.Tests/Infrastructure/RegistryServer.cs. Killed and removed on dispose.
/// </summary>
public sealed class RegistryServer : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("outpost-e2e-registry-").FullName;
    private readonly Process _process;

    private RegistryServer(int port, string? htpasswdLine)
    {
        Port = port;
        var auth = "";
        if (htpasswdLine is not null)
        {
            File.WriteAllText(Path.Combine(_dir, "htpasswd"), htpasswdLine);
            auth = $"auth:\n  htpasswd:\n    realm: outpost-e2e\n    path: {Path.Combine(_dir, "htpasswd")}\n";
        }

        File.WriteAllText(Path.Combine(_dir, "config.yml"), $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {Path.Combine(_dir, "data")}
            http:
              addr: 127.0.0.1:{port}
            {auth}
            """);
        var start = new ProcessStartInfo(ExternalTools.Require("docker-registry")) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(Path.Combine(_dir, "config.yml"));
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Port { get; }

    /// <summary>The registry name for image references, e.g. <c>127.0.0.1:5123</c>.</summary>
    public string Host => $"127.0.0.1:{Port}";

    public static async Task<RegistryServer> StartAsync(string? htpasswdLine = null)
    {
        var server = new RegistryServer(OutpostBinary.FreePort(), htpasswdLine);
        try
        {
            using var http = new HttpClient();
            for (var attempt = 0; attempt < 150; attempt++)
            {
                if (server._process.HasExited)
                {
                    throw new InvalidOperationException($"docker-registry exited with {server._process.ExitCode} before serving.");
                }

                try
                {
                    using var response = await http.GetAsync($"http://{server.Host}/v2/");
                    if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                    {
                        return server;
                    }
                }
                catch (HttpRequestException)
                {
                }

                await Task.Delay(100);
            }

            throw new InvalidOperationException("docker-registry did not answer /v2/ within 15 seconds.");
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>A bcrypt htpasswd line (the registry accepts no other kind).</summary>
    public static async Task<string> HtpasswdLineAsync(string user, string password) =>
        (await ExternalTools.RunAsync("htpasswd", "-B", "-b", "-n", user, password)).Trim() + "\n";

    public void Dispose()
    {
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
            Directory.Delete(_dir, recursive: true);
        }
    }
}
