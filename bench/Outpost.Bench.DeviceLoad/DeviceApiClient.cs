using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Org.Lfedge.Eve.Certs;
using Outpost.Api;
using Outpost.Api.Certificates;
using Outpost.Api.Signing;

namespace Outpost.Bench.DeviceLoad;

/// <summary>The status and body of one device API call.</summary>
public readonly record struct DeviceReply(HttpStatusCode Status, byte[] Body);

/// <summary>
/// One HTTP/1.1 keep-alive connection pool shared by every simulated device, as a fleet behind one NAT would
/// look to the controller; the controller's TLS certificate must chain to its own root, nothing else.
/// </summary>
public sealed class DeviceApiClient : IDisposable
{
    private static readonly MediaTypeHeaderValue ProtoContentType = new(DeviceApiPaths.ProtoContentType);
    private readonly HttpClient _http;
    private readonly AuthenticationHeaderValue _adminAuthorization;

    public DeviceApiClient(ControllerTarget target, int maxConnections)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = maxConnections,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
        };
        var root = target.Root;
        handler.SslOptions.RemoteCertificateValidationCallback = PrivateRootTrust.Callback(root);
        _http = new HttpClient(handler)
        {
            BaseAddress = target.BaseAddress,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(60),
        };
        // Devices never hold the admin token, so it goes only on admin requests.
        _adminAuthorization = new AuthenticationHeaderValue("Bearer", target.AdminToken);
    }

    public async Task<DeviceReply> PostAsync(string path, byte[] envelope, CancellationToken ct)
    {
        using var content = new ByteArrayContent(envelope);
        content.Headers.ContentType = ProtoContentType;
        using var response = await _http.PostAsync(path, content, ct);
        return new DeviceReply(response.StatusCode, await response.Content.ReadAsByteArrayAsync(ct));
    }

    /// <summary>The controller's signing certificate from /certs, to check the envelopes it answers with.</summary>
    public async Task<ControllerSigningCertificate> FetchSigningCertificateAsync(CancellationToken ct)
    {
        var body = await _http.GetByteArrayAsync(DeviceApiPaths.Certs, ct);
        var certs = ZControllerCert.Parser.ParseFrom(Envelope.Payload(Envelope.Parse(body)).Span);
        var pem = certs.Certs.Single(c => c.Type == ZCertType.CertTypeControllerSigning).Cert.ToStringUtf8();
        return new ControllerSigningCertificate(X509Certificate2.CreateFromPem(pem), CertificateHashes.OfPemText(pem));
    }

    public async Task PostAdminAsync<T>(string path, T body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = _adminAuthorization;
        using var response = await _http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException(
                $"POST {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The certificate the controller signs device API answers with, and the hash that names it.</summary>
public sealed record ControllerSigningCertificate(X509Certificate2 Certificate, byte[] Hash)
{
    public ReadOnlyMemory<byte> Open(byte[] envelope) => Envelope.Open(envelope, Certificate, Hash);
}
