using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Outpost.Agent.Configuration;

namespace Outpost.Agent.Content;

/// <summary>A datastore's TLS server could not be trusted; the message says what to fix. Never answered by falling back to HTTP.</summary>
public sealed class DatastoreTlsException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The HTTP stack for one datastore. TLS trusts the system roots plus the datastore's dsCertPEM certificates, and a
/// certificate that fails that check is an error (<see cref="DatastoreTlsException"/>). Transport rule: every registry
/// is spoken to over HTTPS, except a registry on a loopback address (127.0.0.1, localhost, [::1]) that does not speak
/// TLS at all, as Docker allows for local registries: the registry client addresses loopback registries with http://,
/// and <see cref="LoopbackTlsProbeHandler"/> first asks whether that port answers a TLS handshake. If it does, HTTPS
/// is used with full verification; only a plain-HTTP listener is spoken to in plain HTTP. An HTTP datastore (DsHttp)
/// is fetched as its fqdn says, plain http included: its files are trusted by the content tree's sha256, not by the
/// transport (<see cref="HttpDiskSource"/>); a DsHttps one is never fetched in the clear.
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
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    errors == SslPolicyErrors.None || TrustedByExtraRoots(certificate, errors, extraRoots),
            };
        }

        return new HttpClient(new LoopbackTlsProbeHandler(new TlsFailureHandler(sockets))) { Timeout = Timeout.InfiniteTimeSpan };
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

/// <summary>Turns a TLS handshake failure into <see cref="DatastoreTlsException"/>, which no caller retries as plain HTTP.</summary>
internal sealed class TlsFailureHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (request.RequestUri?.Scheme == Uri.UriSchemeHttps
            && (e.HttpRequestError == HttpRequestError.SecureConnectionError || e.InnerException is AuthenticationException))
        {
            throw new DatastoreTlsException(
                $"The TLS certificate of {request.RequestUri.Authority} is not trusted ({Innermost(e).Message}): give the datastore the CA certificate "
                + "that signed it (dsCertPEM, `outpost datastore add --datastore-ca-file`) or use a certificate from a public CA.", e);
        }
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}

/// <summary>
/// For http:// requests to a loopback host: probe once whether the port answers a TLS handshake (whatever its
/// certificate); if it does, the request goes over https:// with full verification, otherwise over plain http.
/// </summary>
internal sealed class LoopbackTlsProbeHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, Task<bool>> _speaksTls = new(StringComparer.OrdinalIgnoreCase);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        if (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback
            && await _speaksTls.GetOrAdd(uri.Authority, _ => SpeaksTlsAsync(uri.Host, uri.Port)).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            request.RequestUri = new UriBuilder(uri) { Scheme = Uri.UriSchemeHttps, Port = uri.Port }.Uri;
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when the server sent a certificate in answer to a ClientHello, i.e. it speaks TLS.</summary>
    internal static async Task<bool> SpeaksTlsAsync(string host, int port)
    {
        using var timeout = new CancellationTokenSource(ProbeTimeout);
        using var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(host.Trim('[', ']'), port, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            // Nothing listens: the real request will say so.
            return false;
        }

        var sawCertificate = false;
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) =>
        {
            sawCertificate = true;
            // Only probing: the real connection verifies the certificate.
            return false;
        });
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
        {
        }

        return sawCertificate;
    }
}
