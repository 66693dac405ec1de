using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;
using Outpost.Oci.Registry;

namespace Outpost.Cli.Admin;

/// <summary>
/// A registry client for the controller's own registry (<c>/v2/</c> on its HTTPS port): TLS trusting the controller's
/// root like the admin client, and the admin token as the push credential. The registry client speaks plain HTTP to
/// loopback registries by default; the controller only speaks HTTPS, so every request to it is sent over HTTPS.
/// </summary>
internal static class ControllerRegistryClient
{
    /// <summary>The registry name (HOST:PORT) images in the controller's registry have, as this CLI reaches it.</summary>
    public static string RegistryOf(ControllerLocation location) => location.BaseAddress.Authority;

    public static (RegistryClient Client, HttpClient Http) Create(ControllerLocation location)
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30) };
        if (location.CaFile is not null)
        {
            var root = X509Certificate2.CreateFromPem(File.ReadAllText(location.CaFile));
            handler.SslOptions.RemoteCertificateValidationCallback = PrivateRootTrust.Callback(root);
        }

        var http = new HttpClient(new HttpsOnly(handler)) { Timeout = Timeout.InfiniteTimeSpan };
        var options = new RegistryClientOptions
        {
            Credentials = new Dictionary<string, RegistryCredentials> { [RegistryOf(location)] = new RegistryCredentials("admin", location.Token) },
        };
        return (new RegistryClient(options, http), http);
    }

    private sealed class HttpsOnly(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri is { Scheme: "http" } uri)
            {
                request.RequestUri = new UriBuilder(uri) { Scheme = Uri.UriSchemeHttps, Port = uri.IsDefaultPort ? -1 : uri.Port }.Uri;
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
