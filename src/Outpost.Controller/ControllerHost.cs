using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;
using Outpost.Controller.Configs;
using Outpost.Controller.DeviceApi;
using Outpost.Controller.OsImages;
using Outpost.Controller.Pki;
using Outpost.Controller.Registry;
using Outpost.Controller.Storage;

namespace Outpost.Controller;

/// <summary>What only exists once the server listens: the actual port (tests listen on port 0).</summary>
public sealed class ControllerRuntime
{
    public string ServerAddress { get; internal set; } = "";

    public int Port { get; internal set; }
}

/// <summary>
/// A running controller: Kestrel over HTTPS serving the EVE device API and the admin API on one port, with
/// its PKI, admin token and store under the data directory.
/// </summary>
public sealed class ControllerHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ControllerHost(WebApplication app, ControllerPki pki, ControllerOptions options, ControllerRuntime runtime)
    {
        _app = app;
        Pki = pki;
        Options = options;
        ServerAddress = runtime.ServerAddress;
        BaseAddress = new Uri($"https://{ServerAddress}/");
    }

    public ControllerPki Pki { get; }

    public ControllerOptions Options { get; }

    /// <summary>host:port as a device's `server` file names it.</summary>
    public string ServerAddress { get; }

    public Uri BaseAddress { get; }

    public string AdminTokenPath => Options.AdminTokenPath;

    public IServiceProvider Services => _app.Services;

    public static async Task<ControllerHost> StartAsync(ControllerOptions options, Action<ILoggingBuilder>? configureLogging, CancellationToken ct)
    {
        Directory.CreateDirectory(options.DataDirectory);
        var hostNames = new List<string> { "localhost" };
        if (!options.Listen.Address.Equals(IPAddress.Any) && !options.Listen.Address.Equals(IPAddress.IPv6Any))
        {
            hostNames.Add(options.Listen.Address.ToString());
        }
        else
        {
            hostNames.Add(IPAddress.Loopback.ToString());
        }

        var pki = ControllerPki.LoadOrCreate(options.PkiDirectory, hostNames, options.Advertise?.Select(AdvertisedNames.Normalize).ToList());
        var token = AdminToken.LoadOrCreate(options.AdminTokenPath);
        IControllerStore store = StoreFactory.Create(options);
        await store.InitializeAsync(ct);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "Outpost.Controller",
            ContentRootPath = options.DataDirectory,
            Args = [],
        });
        builder.Logging.ClearProviders();
        configureLogging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Our own reader enforces the device body limit with a signed 413; Kestrel's is the backstop.
            kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes + (1 << 20);
            kestrel.AddServerHeader = false;
            kestrel.Listen(options.Listen, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(https =>
                {
                    https.ServerCertificate = pki.TlsCertificate;
                    https.ServerCertificateChain = [pki.Root];
                    https.SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
                    // EVE presents its device certificate; identity comes from object signing, so it is optional.
                    https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                    https.ClientCertificateValidation = (_, _, _) => true;
                });
            });
        });

        var runtime = new ControllerRuntime();
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(pki);
        services.AddSingleton(token);
        services.AddSingleton(store);
        services.AddSingleton(runtime);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(new DeviceResponses(pki.Signer));
        services.AddSingleton<ControllerCertificates>();
        services.AddSingleton<DeviceConfigService>();
        services.AddSingleton<DeviceAuthenticator>();
        services.AddSingleton<RegistrationHandler>();
        services.AddSingleton<AttestationHandler>();
        services.AddSingleton<ConfigHandler>();
        services.AddSingleton<ReportHandler>();
        services.AddSingleton<LogFeed>();
        services.AddSingleton<AdminTokenFilter>();
        services.AddSingleton<AppService>();
        services.AddSingleton<Consoles.ConsoleRelay>();
        services.AddSingleton<OsImageService>();
        services.AddSingleton(new LayoutRegistry(Path.Combine(options.DataDirectory, RegistryEndpoints.LayoutFolder)));
        services.AddSingleton(new LayoutRegistryWriter(Path.Combine(options.DataDirectory, RegistryEndpoints.LayoutFolder),
            Path.Combine(options.DataDirectory, RegistryEndpoints.UploadsFolder)));
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.WriteIndented = false);
        services.AddOpenApi("admin");

        var app = builder.Build();
        app.MapOpenApi("/api/admin/openapi/{documentName}.json");
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        app.MapDeviceApi();
        app.MapAdminApi();
        app.MapAppApi();
        app.MapOsApi();
        app.MapRegistryApi();
        Consoles.ConsoleEndpoints.MapConsoleApi(app);
        await app.StartAsync(ct);

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(bound.Replace("://[::]", "://localhost").Replace("://0.0.0.0", "://localhost")).Port;
        runtime.Port = port;
        runtime.ServerAddress = options.Listen.Address.Equals(IPAddress.Any) || options.Listen.Address.Equals(IPAddress.IPv6Any)
            ? $"localhost:{port}"
            : $"{HostText(options.Listen.Address)}:{port}";
        AtomicFile.WriteAllText(options.UrlFilePath, $"https://{runtime.ServerAddress}/\n",
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return new ControllerHost(app, pki, options, runtime);
    }

    private static string HostText(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        var store = Services.GetRequiredService<IControllerStore>();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await store.DisposeAsync();
        Pki.Dispose();
    }
}
