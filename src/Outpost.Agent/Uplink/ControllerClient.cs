using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Attest;
using Org.Lfedge.Eve.Auth;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Metrics;
using Org.Lfedge.Eve.Register;
using Org.Lfedge.Eve.Uuid;
using Outpost.Agent.Identity;
using Outpost.Api;
using Outpost.Api.Configuration;
using Outpost.Api.Signing;

namespace Outpost.Agent.Uplink;

/// <summary>A verified config response and the exact signed bytes it came in (saved as <c>lastconfig</c>).</summary>
public sealed record SignedConfig(ConfigResponse Response, byte[] SignedBody);

/// <summary>
/// The device side of EVE's API v2 over HTTPS. Requests are signed envelopes (device key; onboarding key for
/// register); every response body except /certs must be an envelope signed by the controller signing
/// certificate from /certs, or it is refused. TLS trusts only the roots of CONFDIR (root-certificate.pem,
/// v2tlsbaseroot-certificates.pem) and offers the device certificate as client certificate. A response body larger
/// than the agent accepts is refused before it is read whole.
/// </summary>
public sealed partial class ControllerClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly SocketsHttpHandler _handler;
    private readonly EnvelopeSigner _deviceSigner;
    private readonly UplinkStatistics _statistics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public ControllerClient(
        Uri server,
        IReadOnlyList<X509Certificate2> tlsRoots,
        X509Certificate2 deviceCertificate,
        DeviceSerials serials,
        UplinkStatistics statistics,
        TimeProvider time,
        ILogger<ControllerClient> logger,
        TimeSpan? requestTimeout = null)
    {
        Server = server;
        Serials = serials;
        _deviceSigner = EnvelopeSigner.ForDevice(deviceCertificate);
        _statistics = statistics;
        _time = time;
        _logger = logger;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                ClientCertificates = [deviceCertificate],
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    ServerCertificateTrust.IsTrusted(certificate as X509Certificate2, errors, tlsRoots, time.GetUtcNow()),
            },
        };
        _handler = handler;
        _http = new HttpClient(handler) { BaseAddress = server, Timeout = requestTimeout ?? TimeSpan.FromSeconds(120) };
    }

    public Uri Server { get; }

    public DeviceSerials Serials { get; }

    /// <summary>The trusted controller certificates; responses are verified against their signing certificate.</summary>
    public ControllerCertificates? Certificates { get; set; }

    /// <summary>Set once known; until then requests carry the serial headers.</summary>
    public string? DeviceUuid { get; set; }

    /// <summary>
    /// GET /certs. The envelope's signature is not checked (as EVE); the chain to the root is, and a chain that
    /// does not verify comes back as <see cref="UplinkOutcome.BadResponse"/>.
    /// </summary>
    public async Task<UplinkResult<ControllerCertificates>> GetCertsAsync(X509Certificate2 root, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Get, DeviceApiPaths.Certs, null, verify: false, cancellationToken).ConfigureAwait(false);
        if (reply.Outcome != UplinkOutcome.Success)
        {
            return reply.As<ControllerCertificates>();
        }

        try
        {
            var container = AuthContainer.Parser.ParseFrom(reply.Payload);
            var payload = container.ProtectedPayload is null ? ReadOnlySpan<byte>.Empty : container.ProtectedPayload.Payload.Span;
            var certificates = ControllerCertificates.Parse(payload, root, _time.GetUtcNow());
            return new UplinkResult<ControllerCertificates>(UplinkOutcome.Success, reply.StatusCode, certificates, "ok");
        }
        catch (InvalidProtocolBufferException e)
        {
            return new UplinkResult<ControllerCertificates>(UplinkOutcome.BadResponse, reply.StatusCode, null, $"/certs is not an AuthContainer: {e.Message}");
        }
        catch (ControllerTrustException e)
        {
            _statistics.CountRejectedResponse();
            return new UplinkResult<ControllerCertificates>(UplinkOutcome.BadResponse, reply.StatusCode, null, e.Message);
        }
    }

    /// <summary>POST /register, signed with the onboarding key (senderCert carries the onboarding PEM).</summary>
    public async Task<UplinkResult<bool>> RegisterAsync(EnvelopeSigner onboardingSigner, ZRegisterMsg message, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Post, DeviceApiPaths.Register, onboardingSigner.Seal(message), verify: true, cancellationToken).ConfigureAwait(false);
        return reply.As(reply.Outcome == UplinkOutcome.Success);
    }

    public async Task<UplinkResult<UuidResponse>> RequestUuidAsync(CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Post, DeviceApiPaths.Uuid, _deviceSigner.Seal(new UuidRequest()), verify: true, cancellationToken).ConfigureAwait(false);
        return reply.Decode(UuidResponse.Parser);
    }

    public async Task<UplinkResult<ZAttestResponse>> AttestAsync(string deviceUuid, ZAttestReq request, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Post, DeviceApiPaths.Attest(deviceUuid), _deviceSigner.Seal(request), verify: true, cancellationToken).ConfigureAwait(false);
        return reply.Decode(ZAttestResponse.Parser);
    }

    public async Task<UplinkResult<SignedConfig>> RequestConfigAsync(string deviceUuid, ConfigRequest request, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Post, DeviceApiPaths.Config(deviceUuid), _deviceSigner.Seal(request), verify: true, cancellationToken).ConfigureAwait(false);
        if (reply.Outcome != UplinkOutcome.Success)
        {
            return reply.As<SignedConfig>();
        }

        var decoded = reply.Decode(ConfigResponse.Parser);
        return decoded.Value is null
            ? decoded.WithoutValue<SignedConfig>()
            : decoded.WithoutValue<SignedConfig>() with { Value = new SignedConfig(decoded.Value, reply.Body) };
    }

    /// <summary>
    /// Re-verifies a config envelope saved earlier (<c>lastconfig</c>) against the current controller certificates
    /// before it is applied again after a restart.
    /// </summary>
    public ConfigResponse OpenSavedConfig(byte[] signedBody)
    {
        var certificates = Certificates ?? throw new EnvelopeException(EnvelopeError.CertificateMismatch, "No controller certificates to verify the saved config with.");
        var payload = Envelope.Open(signedBody, certificates.Signing, certificates.SigningHash);
        return ConfigResponse.Parser.ParseFrom(payload.Span);
    }

    public async Task<UplinkResult<bool>> PostInfoAsync(string deviceUuid, ReadOnlyMemory<byte> zInfoMsg, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Post, DeviceApiPaths.Info(deviceUuid), _deviceSigner.Seal(zInfoMsg.Span), verify: true, cancellationToken).ConfigureAwait(false);
        return reply.As(reply.Outcome == UplinkOutcome.Success);
    }

    /// <summary>Posts one newlogs gzip file; the raw gzip bytes are the envelope payload.</summary>
    public async Task<UplinkResult<bool>> PostNewLogsAsync(string deviceUuid, ReadOnlyMemory<byte> gzipFile, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Post, DeviceApiPaths.NewLogs(deviceUuid), _deviceSigner.Seal(gzipFile.Span), verify: true, cancellationToken, allowJsonBody: true).ConfigureAwait(false);
        return reply.As(reply.Outcome == UplinkOutcome.Success);
    }

    /// <summary>Posts one app newlogs gzip file (app console output) for the app instance <paramref name="appUuid"/>.</summary>
    public async Task<UplinkResult<bool>> PostAppNewLogsAsync(string deviceUuid, string appUuid, ReadOnlyMemory<byte> gzipFile, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Post, DeviceApiPaths.AppNewLogs(deviceUuid, appUuid), _deviceSigner.Seal(gzipFile.Span), verify: true, cancellationToken, allowJsonBody: true).ConfigureAwait(false);
        return reply.As(reply.Outcome == UplinkOutcome.Success);
    }

    public async Task<UplinkResult<bool>> PostMetricsAsync(string deviceUuid, ZMetricMsg metrics, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Post, DeviceApiPaths.Metrics(deviceUuid), _deviceSigner.Seal(metrics), verify: true, cancellationToken).ConfigureAwait(false);
        return reply.As(reply.Outcome == UplinkOutcome.Success);
    }

    /// <summary>
    /// Opens a WebSocket to <paramref name="path"/> on the controller over the same TLS as every other call: only the
    /// controller's roots are trusted and the device certificate is the client certificate, which is what authenticates
    /// the socket (a WebSocket carries no signed envelope).
    /// </summary>
    public async Task<ClientWebSocket> ConnectWebSocketAsync(string path, CancellationToken cancellationToken)
    {
        var uri = new UriBuilder(new Uri(Server, path)) { Scheme = Server.Scheme == Uri.UriSchemeHttp ? "ws" : "wss" }.Uri;
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(30);
        try
        {
            using var invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
            await socket.ConnectAsync(uri, invoker, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _deviceSigner.Dispose();
    }

    /// <param name="allowJsonBody">
    /// newlogs may be answered with a plain JSON ServerMetrics body (EVE uses it only for statistics). It is
    /// accepted unverified and never used; any protobuf body is still verified.
    /// </param>
    private async Task<Reply> SendAsync(HttpMethod method, string path, byte[]? body, bool verify, CancellationToken cancellationToken, bool allowJsonBody = false)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add("X-Request-Id", Guid.NewGuid().ToString());
        if (DeviceUuid is null)
        {
            request.Headers.Add("X-Serial-Number", Serials.Serial);
            if (Serials.SoftSerial.Length > 0)
            {
                request.Headers.Add("X-Soft-Serial", Serials.SoftSerial);
            }
        }

        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(DeviceApiPaths.ProtoContentType);
        }

        HttpResponseMessage response;
        byte[]? responseBody;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            responseBody = await ReadBoundedAsync(response.Content, ConfigBounds.MaxConfigResponseBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException && !cancellationToken.IsCancellationRequested)
        {
            _statistics.Record(path, success: false, body?.Length ?? 0, 0, _time.GetUtcNow());
            var untrusted = e is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } && HasCause<AuthenticationException>(e);
            return new Reply(untrusted ? UplinkOutcome.UntrustedServer : UplinkOutcome.Unreachable, null, [], [], Describe(e));
        }

        if (responseBody is null)
        {
            using (response)
            {
                _statistics.Record(path, success: false, body?.Length ?? 0, 0, _time.GetUtcNow());
                return Rejected(path, (int)response.StatusCode, [],
                    $"the response is larger than the {ConfigBounds.MaxConfigResponseBytes / (1024 * 1024)} MiB the agent accepts; nothing of it was applied");
            }
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            var outcome = Classify(response.StatusCode);
            _statistics.Record(path, outcome is UplinkOutcome.Success or UplinkOutcome.NotModified, body?.Length ?? 0, responseBody.Length, _time.GetUtcNow());
            if (outcome != UplinkOutcome.Success || responseBody.Length == 0)
            {
                return new Reply(outcome, status, [], responseBody, $"HTTP {status}");
            }

            if (response.Content.Headers.ContentType?.MediaType != DeviceApiPaths.ProtoContentType)
            {
                if (!verify || (allowJsonBody && response.Content.Headers.ContentType?.MediaType == "application/json"))
                {
                    return new Reply(outcome, status, responseBody, responseBody, $"HTTP {status}");
                }

                return Rejected(path, status, responseBody, $"content type is '{response.Content.Headers.ContentType}', not {DeviceApiPaths.ProtoContentType}");
            }

            if (!verify)
            {
                return new Reply(outcome, status, responseBody, responseBody, $"HTTP {status}");
            }

            var certificates = Certificates;
            if (certificates is null)
            {
                return new Reply(UplinkOutcome.CertMiss, status, [], responseBody, "no controller certificates yet");
            }

            try
            {
                var payload = Envelope.Open(responseBody, certificates.Signing, certificates.SigningHash);
                return new Reply(outcome, status, payload.ToArray(), responseBody, $"HTTP {status}");
            }
            catch (EnvelopeException e) when (e.Error == EnvelopeError.CertificateMismatch)
            {
                LogCertMiss(_logger, path);
                return new Reply(UplinkOutcome.CertMiss, status, [], responseBody, e.Message);
            }
            catch (EnvelopeException e)
            {
                return Rejected(path, status, responseBody, e.Message);
            }
        }
    }

    private Reply Rejected(string path, int status, byte[] body, string reason)
    {
        _statistics.CountRejectedResponse();
        LogRejectedResponse(_logger, path, status, reason);
        return new Reply(UplinkOutcome.BadResponse, status, [], body, reason);
    }

    private static UplinkOutcome Classify(HttpStatusCode status) => (int)status switch
    {
        200 or 201 or 202 or 204 => UplinkOutcome.Success,
        304 => UplinkOutcome.NotModified,
        403 => UplinkOutcome.Forbidden,
        400 or 404 => UplinkOutcome.NotFound,
        409 => UplinkOutcome.Conflict,
        401 or 407 or 408 or 429 => UplinkOutcome.RetryLater,
        >= 500 => UplinkOutcome.RetryLater,
        >= 400 => UplinkOutcome.Refused,
        _ => UplinkOutcome.RetryLater,
    };

    /// <summary>The whole body, or null when it is longer than <paramref name="limit"/> (read no further than that).</summary>
    private static async Task<byte[]?> ReadBoundedAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > limit)
        {
            return null;
        }

        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static bool HasCause<TException>(Exception e) where TException : Exception
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            if (current is TException)
            {
                return true;
            }
        }

        return false;
    }

    private static string Describe(Exception e)
    {
        var innermost = e;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        return innermost == e ? e.Message : $"{e.Message} ({innermost.Message})";
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused the controller's response to {Path} (HTTP {Status}): {Reason}; it was not applied")]
    private static partial void LogRejectedResponse(ILogger logger, string path, int status, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Response to {Path} is signed by a controller certificate we do not hold; fetching /certs again")]
    private static partial void LogCertMiss(ILogger logger, string path);

    private sealed record Reply(UplinkOutcome Outcome, int? StatusCode, byte[] Payload, byte[] Body, string Detail)
    {
        public UplinkResult<T> As<T>(T? value = default) => new(Outcome, StatusCode, value, Detail);

        public UplinkResult<T> Decode<T>(MessageParser<T> parser) where T : IMessage<T>
        {
            if (Outcome != UplinkOutcome.Success)
            {
                return As<T>();
            }

            try
            {
                return As(parser.ParseFrom(Payload));
            }
            catch (InvalidProtocolBufferException e)
            {
                return new UplinkResult<T>(UplinkOutcome.BadResponse, StatusCode, default, $"payload is not a {typeof(T).Name}: {e.Message}");
            }
        }
    }
}
