using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Outpost.Api.Certificates;
using Outpost.Controller.AdminApi;

namespace Outpost.Controller.Tests.Pki;

/// <summary>
/// Real controllers started one after another on one data directory with different <c>--advertise</c> lists, checked
/// the way a device checks them: a TLS handshake naming the advertised host, trusting only the root it was given.
/// </summary>
public sealed class AdvertisedCertificateTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("outpost-advertise-test-").FullName;

    private string PkiFile(string name) => Path.Combine(_data, "pki", name);

    private async Task<ControllerHost> StartAsync(IReadOnlyList<string>? advertise) =>
        await ControllerHost.StartAsync(new ControllerOptions(_data, new IPEndPoint(IPAddress.Loopback, 0)) { Advertise = advertise },
            configureLogging: null, CancellationToken.None);

    /// <summary>Connects to 127.0.0.1 but validates the certificate for <paramref name="targetHost"/>, as a device using that name would.</summary>
    private static async Task<bool> HandshakeSucceedsAsync(ControllerHost host, string targetHost, X509Certificate2 root)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, host.BaseAddress.Port);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, PrivateRootTrust.Callback(root));
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = targetHost });
            return true;
        }
        catch (AuthenticationException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_client_naming_an_advertised_dns_name_or_address_validates_the_certificate_against_the_root()
    {
        await using var host = await StartAsync(["controller.example.test", "10.0.2.2"]);
        var root = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(PkiFile("root-certificate.pem")));

        Assert.True(await HandshakeSucceedsAsync(host, "controller.example.test", root), "the advertised DNS name should validate");
        Assert.True(await HandshakeSucceedsAsync(host, "10.0.2.2", root), "the advertised IP address should validate");
        Assert.True(await HandshakeSucceedsAsync(host, "127.0.0.1", root), "the listen address should still validate");
        Assert.False(await HandshakeSucceedsAsync(host, "other.example.test", root), "a name nobody advertised must not validate");
    }

    [Fact]
    public async Task The_admin_api_names_the_advertised_servers_with_the_controller_port_first_advertised_first()
    {
        await using var host = await StartAsync(["controller.example.test", "10.0.2.2"]);
        using var admin = ControllerFixture.CreateClient(host.BaseAddress, host.Pki.Root);
        admin.DefaultRequestHeaders.Authorization = new("Bearer", (await File.ReadAllTextAsync(host.AdminTokenPath)).Trim());

        var identity = await admin.GetFromJsonAsync<ControllerIdentity>("api/admin/controller", JsonSerializerOptions.Web);

        var port = host.BaseAddress.Port;
        Assert.Equal([$"controller.example.test:{port}", $"10.0.2.2:{port}"], identity!.AdvertisedServers);
        Assert.Equal($"127.0.0.1:{port}", identity.Server);
    }

    [Fact]
    public async Task Changing_the_advertised_names_reissues_the_tls_certificate_from_the_same_root_and_leaves_the_rest()
    {
        string[] untouched = ["root-certificate.pem", "root.key.pem", "signing.cert.pem", "signing.key.pem", "ecdh.cert.pem", "ecdh.key.pem"];
        await using (await StartAsync(["one.example.test"]))
        {
        }

        var before = untouched.ToDictionary(name => name, name => File.ReadAllBytes(PkiFile(name)));
        var tlsBefore = await File.ReadAllBytesAsync(PkiFile("server.cert.pem"));
        var deviceRoot = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(PkiFile("root-certificate.pem")));

        await using (var changed = await StartAsync(["two.example.test"]))
        {
            Assert.NotEqual(tlsBefore, await File.ReadAllBytesAsync(PkiFile("server.cert.pem")));
            foreach (var name in untouched)
            {
                var now = await File.ReadAllBytesAsync(PkiFile(name));
                Assert.True(before[name].SequenceEqual(now), $"{name} changed when only the advertised names did");
            }

            Assert.True(await HandshakeSucceedsAsync(changed, "two.example.test", deviceRoot), "the new name should validate against the old root");
            Assert.False(await HandshakeSucceedsAsync(changed, "one.example.test", deviceRoot), "the dropped name must no longer validate");
        }

        var tlsAfterChange = await File.ReadAllBytesAsync(PkiFile("server.cert.pem"));
        await using (await StartAsync(["two.example.test"]))
        {
            Assert.Equal(tlsAfterChange, await File.ReadAllBytesAsync(PkiFile("server.cert.pem")));
        }

        // No --advertise at all keeps the saved names, and with them the certificate.
        await using (var kept = await StartAsync(null))
        {
            Assert.Equal(tlsAfterChange, await File.ReadAllBytesAsync(PkiFile("server.cert.pem")));
            Assert.Equal(["two.example.test"], kept.Pki.AdvertisedNames);
        }
    }

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
