using System.Net;
using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;
using Outpost.Controller;

namespace Outpost.Bench.DeviceLoad;

/// <summary>
/// The controller under load: a running one given on the command line, or one started in this process on
/// 127.0.0.1 with a throw-away data directory (the default, so the bench needs no setup).
/// </summary>
public sealed class ControllerTarget : IAsyncDisposable
{
    private readonly ControllerHost? _host;
    private readonly string? _temporaryDataDirectory;

    private ControllerTarget(Uri baseAddress, X509Certificate2 root, string adminToken, string description,
        ControllerHost? host, string? temporaryDataDirectory)
    {
        BaseAddress = baseAddress;
        Root = root;
        AdminToken = adminToken;
        Description = description;
        _host = host;
        _temporaryDataDirectory = temporaryDataDirectory;
    }

    public Uri BaseAddress { get; }

    /// <summary>The root the controller's TLS certificate must chain to.</summary>
    public X509Certificate2 Root { get; }

    public string AdminToken { get; }

    /// <summary>Says in the output which controller the figures belong to.</summary>
    public string Description { get; }

    public static async Task<ControllerTarget> ConnectAsync(RemoteController remote, CancellationToken ct)
    {
        var token = (await File.ReadAllTextAsync(remote.TokenFile, ct)).Trim();
        var roots = Pem.ParseCertificates(await File.ReadAllTextAsync(remote.CaFile, ct));
        if (roots.Count == 0)
        {
            throw new ArgumentException($"{remote.CaFile} holds no PEM certificate.");
        }

        return new ControllerTarget(remote.BaseAddress, roots[0], token, $"running controller at {remote.BaseAddress}",
            host: null, temporaryDataDirectory: null);
    }

    public static async Task<ControllerTarget> StartInProcessAsync(CancellationToken ct)
    {
        var dataDirectory = Directory.CreateTempSubdirectory("outpost-bench-controller-").FullName;
        var host = await ControllerHost.StartAsync(
            new ControllerOptions(dataDirectory, new IPEndPoint(IPAddress.Loopback, 0)), configureLogging: null, ct);
        var token = (await File.ReadAllTextAsync(host.AdminTokenPath, ct)).Trim();
        return new ControllerTarget(host.BaseAddress, host.Pki.Root, token,
            $"in-process controller at {host.BaseAddress} (SQLite in {dataDirectory}; shares this process's CPUs)",
            host, dataDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        if (_temporaryDataDirectory is not null)
        {
            Directory.Delete(_temporaryDataDirectory, recursive: true);
        }
    }
}
