using System.Net;
using Outpost.Controller.Registry;
using Outpost.Oci.Content;

namespace Outpost.Controller.Tests.Registry;

/// <summary>A real controller (HTTPS, random port) whose DATA/registry layout holds two small images in two repositories.</summary>
public sealed class ControllerRegistryFixture : IAsyncLifetime
{
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("outpost-registry-test-").FullName;

    public ControllerHost Host { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>A folder with ca.crt = the controller's root, as skopeo's --cert-dir wants it.</summary>
    public string CertDirectory => Path.Combine(DataDirectory, "skopeo-certs");

    public string LayoutPath => Path.Combine(DataDirectory, RegistryEndpoints.LayoutFolder);

    public Descriptor Hello { get; private set; } = null!;

    public Descriptor Other { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await ControllerHost.StartAsync(new ControllerOptions(DataDirectory, new IPEndPoint(IPAddress.Loopback, 0)), null, CancellationToken.None);
        Http = ControllerFixture.CreateClient(Host.BaseAddress, Host.Pki.Root);
        Directory.CreateDirectory(CertDirectory);
        await File.WriteAllTextAsync(Path.Combine(CertDirectory, "ca.crt"), await File.ReadAllTextAsync(Path.Combine(DataDirectory, "pki", "root-certificate.pem")));
        Hello = await RegistryTestImage.WriteAsync(LayoutPath, "outpost/hello", "1", "hello marker");
        Other = await RegistryTestImage.WriteAsync(LayoutPath, "other/repo", "2", "other marker");
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Host.DisposeAsync();
        Directory.Delete(DataDirectory, recursive: true);
    }
}
