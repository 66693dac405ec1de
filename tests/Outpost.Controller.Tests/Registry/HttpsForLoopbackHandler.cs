namespace Outpost.Controller.Tests.Registry;

/// <summary>
/// Our RegistryClient talks plain HTTP to 127.0.0.1 by default; the controller only speaks HTTPS. A device that has the
/// controller's root as dsCertPEM reaches it over HTTPS, which this handler reproduces by upgrading the scheme.
/// </summary>
internal sealed class HttpsForLoopbackHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is { Scheme: "http" } uri)
        {
            request.RequestUri = new UriBuilder(uri) { Scheme = Uri.UriSchemeHttps, Port = uri.Port }.Uri;
        }

        return base.SendAsync(request, cancellationToken);
    }
}
