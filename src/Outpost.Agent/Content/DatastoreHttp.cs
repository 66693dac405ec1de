using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Outpost.Agent.Configuration;

namespace Outpost.Agent.Content;

/// <summary>
/// The HTTP stack for one datastore. TLS trusts the system roots plus the datastore's dsCertPEM certificates.
/// Transport rule: every registry is spoken to over HTTPS, except a loopback registry (127.0.0.1, localhost, [::1])
/// that does not answer TLS, which falls back to plain HTTP. The registry client addresses loopback registries
/// with http://, so <see cref="LoopbackHttpsFirstHandler"/> tries https:// first and remembers per host which worked.
/// </summary>
public static class DatastoreHttp
{
    public static HttpClient CreateClient(DatastoreSpec datastore)
    {
        var extraRoots = datastore.CertificatesPem.SelectMany(LoadPem).ToList();
        var sockets = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(30),
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        if (extraRoots.Count > 0)
        {
            sockets.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                    errors == SslPolicyErrors.None || TrustedByExtraRoots(certificate, errors, extraRoots),
            };
        }

        return new HttpClient(new LoopbackHttpsFirstHandler(sockets)) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private static bool TrustedByExtraRoots(X509Certificate? certificate, SslPolicyErrors errors, List<X509Certificate2> roots)
    {
        // A name mismatch stays fatal: the datastore's certificate extends trust, it does not excuse the wrong host.
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        foreach (var root in roots)
        {
            chain.ChainPolicy.CustomTrustStore.Add(root);
            chain.ChainPolicy.ExtraStore.Add(root);
        }

        using var leaf = new X509Certificate2(certificate);
        // A datastore may hand us the server certificate itself instead of its issuer.
        return chain.Build(leaf) || roots.Any(r => r.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span));
    }

    private static IEnumerable<X509Certificate2> LoadPem(string pem)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(pem);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            // An unreadable certificate adds no trust; the TLS error that follows names the registry.
        }

        return collection;
    }
}

/// <summary>For http:// requests to a loopback host: try https:// first; use http:// only when that host does not speak TLS.</summary>
internal sealed class LoopbackHttpsFirstHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private readonly ConcurrentDictionary<string, bool> _speaksTls = new(StringComparer.OrdinalIgnoreCase);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        if (uri.Scheme != Uri.UriSchemeHttp || !uri.IsLoopback || request.Content is not null)
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var authority = uri.Authority;
        if (!_speaksTls.TryGetValue(authority, out var tls) || tls)
        {
            request.RequestUri = new UriBuilder(uri) { Scheme = Uri.UriSchemeHttps, Port = uri.Port }.Uri;
            try
            {
                var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
                _speaksTls[authority] = true;
                return response;
            }
            catch (HttpRequestException e) when (!_speaksTls.ContainsKey(authority) && IsNotTls(e))
            {
                _speaksTls[authority] = false;
                request.RequestUri = uri;
            }
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private static bool IsNotTls(HttpRequestException e) =>
        e.HttpRequestError == HttpRequestError.SecureConnectionError || e.InnerException is AuthenticationException or IOException;
}
