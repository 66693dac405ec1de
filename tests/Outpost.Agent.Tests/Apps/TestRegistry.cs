using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Outpost.Agent.Tests.Apps;

/// <summary>
/// Debian's <c>docker-registry</c> on 127.0.0.1 (plain HTTP, or HTTPS with a given certificate) with storage in a temp
/// dir, optionally behind htpasswd basic auth. Killed and cleaned up on dispose.
/// </summary>
public sealed class TestRegistry : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("outpost-registry-").FullName;
    private readonly Process _process;

    private TestRegistry(int port, string? user, string? password, Fixtures.IssuedCertificate? tls)
    {
        Port = port;
        var tlsSection = "";
        if (tls is not null)
        {
            File.WriteAllText(Path.Combine(_dir, "tls.crt"), tls.CertificatePem);
            File.WriteAllText(Path.Combine(_dir, "tls.key"), tls.KeyPem);
            tlsSection = $"\n  tls:\n    certificate: {Path.Combine(_dir, "tls.crt")}\n    key: {Path.Combine(_dir, "tls.key")}";
        }

        var auth = "";
        if (user is not null)
        {
            var htpasswd = Path.Combine(_dir, "htpasswd");
            Run("htpasswd", "-Bbc", htpasswd, user, password!);
            auth = $"auth:\n  htpasswd:\n    realm: outpost-test\n    path: {htpasswd}\n";
        }

        File.WriteAllText(Path.Combine(_dir, "config.yml"), $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {Path.Combine(_dir, "data")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}{tlsSection}
            {auth}
            """);
        var start = new ProcessStartInfo("docker-registry") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(Path.Combine(_dir, "config.yml"));
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Port { get; }

    public string Host => $"127.0.0.1:{Port}";

    /// <param name="tls">Serve HTTPS only, with this certificate (for 127.0.0.1).</param>
    public static async Task<TestRegistry> StartAsync(string? user = null, string? password = null, Fixtures.IssuedCertificate? tls = null)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var registry = new TestRegistry(port, user, password, tls);
        // Readiness only: whether the port answers, whatever its certificate (what the tests check is who trusts it).
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator });
        var scheme = tls is null ? "http" : "https";
        for (var attempt = 0; attempt < 150; attempt++)
        {
            try
            {
                using var response = await http.GetAsync($"{scheme}://{registry.Host}/v2/");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return registry;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        registry.Dispose();
        throw new InvalidOperationException("docker-registry did not answer /v2/ within 15 seconds (is the docker-registry package installed?).");
    }

    private static void Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} failed: {process.StandardError.ReadToEnd()}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
