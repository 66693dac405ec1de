using System.Security.Cryptography;
using Outpost.Api.Certificates;
using Outpost.Api.OsImages;
using Outpost.Controller.Tests.Registry;
using Outpost.Image.OsImages;
using Outpost.Oci.Registry;

namespace Outpost.Controller.Tests.OsImages;

/// <summary>
/// OS image folders as `outpost image build --out` leaves them (random payload bytes: the controller never looks
/// inside), signed and pushed the way `outpost os push` does: OsImagePublisher over HTTPS with the admin token.
/// </summary>
internal static class OsTestImages
{
    public static async Task<string> CreateSignedFolderAsync(string root, string version, ECDsa? key = null)
    {
        var folder = Path.Combine(root, "os-" + version + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(folder, "boot"));
        await File.WriteAllBytesAsync(Path.Combine(folder, OsImageArtifact.RootfsFile), RandomNumberGenerator.GetBytes(512 * 1024));
        await File.WriteAllBytesAsync(Path.Combine(folder, OsImageArtifact.KernelFile), RandomNumberGenerator.GetBytes(64 * 1024));
        await File.WriteAllBytesAsync(Path.Combine(folder, OsImageArtifact.InitrdFile), RandomNumberGenerator.GetBytes(32 * 1024));
        using var own = key is null ? ECDsa.Create(ECCurve.NamedCurves.nistP256) : null;
        await OsImageFolder.SignAsync(folder, key ?? own!, version, CancellationToken.None);
        return folder;
    }

    /// <summary>A registry client for the controller's registry: its root trusted, HTTPS even on loopback, the token as password.</summary>
    public static (RegistryClient Client, HttpClient Http) Client(ControllerHost host, string? token)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = PrivateRootTrust.Callback(host.Pki.Root);
        var http = new HttpClient(new HttpsForLoopbackHandler(handler));
        var credentials = token is null
            ? new Dictionary<string, RegistryCredentials>()
            : new Dictionary<string, RegistryCredentials> { [host.ServerAddress] = new RegistryCredentials("admin", token) };
        return (new RegistryClient(new RegistryClientOptions { Credentials = credentials, MaxRetries = 1 }, http), http);
    }

    public static async Task<OsImageArtifactContent> PushAsync(ControllerHost host, string folder, string version)
    {
        var token = (await File.ReadAllTextAsync(host.AdminTokenPath)).Trim();
        var (client, http) = Client(host, token);
        using (http)
        using (client)
        {
            return await OsImagePublisher.PushAsync(folder, version, client, host.ServerAddress, null, CancellationToken.None);
        }
    }

    public static async Task<OsImageArtifactContent> CreateAndPushAsync(ControllerHost host, string root, string version) =>
        await PushAsync(host, await CreateSignedFolderAsync(root, version), version);
}
