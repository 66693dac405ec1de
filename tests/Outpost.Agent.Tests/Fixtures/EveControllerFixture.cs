using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Attest;
using Org.Lfedge.Eve.Auth;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Metrics;
using Org.Lfedge.Eve.Register;
using Org.Lfedge.Eve.Uuid;
using Outpost.Api;
using Outpost.Api.Logs;
using Outpost.Api.Signing;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>
/// A small controller written from the EVE API v2 reference, independent of Outpost.Controller: it holds the
/// agent to the spec. HTTPS on 127.0.0.1 with a certificate from <see cref="TestPki"/>; every response body is
/// an AuthContainer signed by the controller signing key and named by SHA-256 of the served PEM text.
/// </summary>
public sealed class EveControllerFixture : IAsyncDisposable
{
    private readonly EnvelopeSigner _signer;
    private WebApplication? _app;

    public EveControllerFixture(TestPki? pki = null)
    {
        Pki = pki ?? new TestPki();
        _signer = EnvelopeSigner.ForController(Pki.Signing.WithKey(), Pki.Signing.CertificatePem);
        Port = FreePort();
    }

    public TestPki Pki { get; }

    public EveControllerState State { get; } = new();

    public int Port { get; }

    public string Server => $"127.0.0.1:{Port}";

    /// <summary>Writes CONFDIR for a device of this controller.</summary>
    public void WriteConfigDirectory(string directory, string? softSerial)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "server"), Server + "\n");
        File.WriteAllText(Path.Combine(directory, "root-certificate.pem"), Pki.Root.CertificatePem);
        File.WriteAllText(Path.Combine(directory, "onboard.cert.pem"), Pki.Onboarding.CertificatePem);
        File.WriteAllText(Path.Combine(directory, "onboard.key.pem"), Pki.Onboarding.KeyPem);
        if (softSerial is not null)
        {
            File.WriteAllText(Path.Combine(directory, "soft_serial"), softSerial + "\n");
        }
    }

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, Port, listen => listen.UseHttps(https =>
        {
            https.ServerCertificate = Pki.Tls.WithKey();
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.AllowAnyClientCertificate();
        })));
        var app = builder.Build();
        app.MapGet(DeviceApiPaths.Certs, Certs);
        app.MapPost(DeviceApiPaths.Register, Register);
        app.MapPost(DeviceApiPaths.Uuid, Uuid);
        app.MapPost(DeviceApiPaths.Prefix + "/id/{uuid}/attest", Attest);
        app.MapPost(DeviceApiPaths.Prefix + "/id/{uuid}/config", Config);
        app.MapPost(DeviceApiPaths.Prefix + "/id/{uuid}/info", Info);
        app.MapPost(DeviceApiPaths.Prefix + "/id/{uuid}/metrics", Metrics);
        app.MapPost(DeviceApiPaths.Prefix + "/id/{uuid}/newlogs", NewLogs);
        app.MapPost(DeviceApiPaths.Prefix + "/id/{uuid}/apps/instanceid/{app}/newlogs", AppNewLogs);
        app.Use(async (context, next) =>
        {
            State.Requests.Enqueue(context.Request.Path);
            State.RequestHeaders.Enqueue((context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase)));
            await next(context);
        });
        await app.StartAsync();
        _app = app;
    }

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _signer.Dispose();
    }

    private IResult Certs() => Signed(Pki.ControllerCerts().ToByteArray(), StatusCodes.Status200OK);

    private async Task<IResult> Register(HttpRequest request)
    {
        var container = Envelope.Parse(await Body(request));
        var (sender, _) = Envelope.SenderCertificate(container);
        if (!sender.RawData.AsSpan().SequenceEqual(Pki.Onboarding.Certificate.RawData))
        {
            return Results.StatusCode(StatusCodes.Status401Unauthorized);
        }

        Envelope.Verify(container, sender);
        var message = ZRegisterMsg.Parser.ParseFrom(Envelope.Payload(container).Span);
        var serial = State.AllowedSerials.ContainsKey(message.Serial) ? message.Serial
            : State.AllowedSerials.ContainsKey(message.SoftSerial) ? message.SoftSerial : null;
        if (serial is null)
        {
            return Results.StatusCode(StatusCodes.Status403Forbidden);
        }

        var devicePem = Encoding.UTF8.GetString(Convert.FromBase64String(message.PemCert.ToStringUtf8()));
        var deviceHash = CertificateHashes.OfDer(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(devicePem));
        if (State.DevicesBySerial.TryGetValue(serial, out var existing))
        {
            return existing.CertificateDerHash.AsSpan().SequenceEqual(deviceHash)
                ? Results.StatusCode(StatusCodes.Status200OK)
                : Results.StatusCode(StatusCodes.Status409Conflict);
        }

        State.DevicesBySerial[serial] = new RegisteredDevice(Guid.NewGuid().ToString(), serial, deviceHash, devicePem);
        return Results.StatusCode(StatusCodes.Status201Created);
    }

    private async Task<IResult> Uuid(HttpRequest request)
    {
        var (device, _) = await Authenticate(request);
        return device is null
            ? Results.StatusCode(StatusCodes.Status400BadRequest)
            : Signed(new UuidResponse { Uuid = device.Uuid }.ToByteArray(), StatusCodes.Status200OK);
    }

    private async Task<IResult> Attest(HttpRequest request, string uuid)
    {
        var (device, payload) = await Authenticate(request, uuid);
        if (device is null)
        {
            return Results.StatusCode(StatusCodes.Status401Unauthorized);
        }

        var attest = ZAttestReq.Parser.ParseFrom(payload);
        switch (attest.ReqType)
        {
            case ZAttestReqType.AttestReqNonce:
                device.Nonce = RandomNumberGenerator.GetBytes(16);
                return Signed(new ZAttestResponse
                {
                    RespType = ZAttestRespType.AttestRespNonce,
                    Nonce = new ZAttestNonceResp { Nonce = ByteString.CopyFrom(device.Nonce) },
                }.ToByteArray(), StatusCodes.Status201Created);
            case ZAttestReqType.AttestReqQuote when device.Nonce is not null && attest.Quote is not null:
                device.Nonce = null;
                device.IntegrityToken = RandomNumberGenerator.GetBytes(32);
                return Signed(new ZAttestResponse
                {
                    RespType = ZAttestRespType.AttestRespQuoteResp,
                    QuoteResp = new ZAttestQuoteResp { Response = ZAttestResponseCode.Success, IntegrityToken = ByteString.CopyFrom(device.IntegrityToken) },
                }.ToByteArray(), StatusCodes.Status201Created);
            default:
                return Results.StatusCode(StatusCodes.Status422UnprocessableEntity);
        }
    }

    private async Task<IResult> Config(HttpRequest request, string uuid)
    {
        Interlocked.Increment(ref State.ConfigRequests);
        var (device, payload) = await Authenticate(request, uuid);
        if (device is null)
        {
            return Results.StatusCode(StatusCodes.Status400BadRequest);
        }

        var configRequest = ConfigRequest.Parser.ParseFrom(payload);
        if (State.ConfigMode == ConfigResponseMode.NotFound)
        {
            return Results.StatusCode(StatusCodes.Status404NotFound);
        }

        if (device.IntegrityToken is null || !configRequest.IntegrityToken.Span.SequenceEqual(device.IntegrityToken))
        {
            return Results.StatusCode(StatusCodes.Status403Forbidden);
        }

        var config = State.ConfigFor(device);
        var hash = Convert.ToBase64String(SHA256.HashData(config.ToByteArray()));
        if (configRequest.ConfigHash == hash)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        var response = new ConfigResponse { Config = config, ConfigHash = hash }.ToByteArray();
        switch (State.ConfigMode)
        {
            case ConfigResponseMode.TamperedPayload:
                var container = _signer.Wrap(response);
                var tampered = container.ProtectedPayload.Payload.ToByteArray();
                tampered[^1] ^= 0x01;
                container.ProtectedPayload.Payload = ByteString.CopyFrom(tampered);
                return Proto(container.ToByteArray(), StatusCodes.Status200OK);
            case ConfigResponseMode.WrongKey:
                using (var impostor = EnvelopeSigner.ForController(TestPki.CreateSelfSigned("CN=Impostor").WithKey(), Pki.Signing.CertificatePem))
                {
                    return Proto(impostor.Seal(response), StatusCodes.Status200OK);
                }

            default:
                return Signed(response, StatusCodes.Status200OK);
        }
    }

    private async Task<IResult> Info(HttpRequest request, string uuid)
    {
        var (device, payload) = await Authenticate(request, uuid);
        if (device is null)
        {
            return Results.StatusCode(StatusCodes.Status401Unauthorized);
        }

        var info = ZInfoMsg.Parser.ParseFrom(payload);
        if (State.RefuseInfo?.Invoke(info) == true)
        {
            State.RefusedInfos.Enqueue(info);
            return Results.StatusCode(StatusCodes.Status404NotFound);
        }

        State.Infos.Enqueue(info);
        State.Timeline.Enqueue(info.InfoContentCase switch
        {
            ZInfoMsg.InfoContentOneofCase.Ainfo => $"info:app:{info.Ainfo.AppID}:{info.Ainfo.State}",
            ZInfoMsg.InfoContentOneofCase.Vinfo => $"info:volume:{info.Vinfo.Uuid}:{info.Vinfo.State}",
            ZInfoMsg.InfoContentOneofCase.Cinfo => $"info:content:{info.Cinfo.Uuid}:{info.Cinfo.State}",
            _ => $"info:device:{info.DevId}:{info.Dinfo?.State}",
        });
        return Results.StatusCode(StatusCodes.Status201Created);
    }

    private async Task<IResult> Metrics(HttpRequest request, string uuid)
    {
        var (device, payload) = await Authenticate(request, uuid);
        if (device is null)
        {
            return Results.StatusCode(StatusCodes.Status401Unauthorized);
        }

        State.Metrics.Enqueue(ZMetricMsg.Parser.ParseFrom(payload));
        return Results.StatusCode(StatusCodes.Status201Created);
    }

    private async Task<IResult> NewLogs(HttpRequest request, string uuid)
    {
        var (device, payload) = await Authenticate(request, uuid);
        if (device is null)
        {
            return Results.StatusCode(StatusCodes.Status401Unauthorized);
        }

        var file = NewLogsFormat.Unpack(payload);
        if (file.Header.DevId != device.Uuid)
        {
            return Results.StatusCode(StatusCodes.Status422UnprocessableEntity);
        }

        foreach (var entry in file.Entries)
        {
            State.LogEntries.Enqueue(entry);
        }

        State.Timeline.Enqueue("newlogs");
        return Results.StatusCode(StatusCodes.Status201Created);
    }

    private async Task<IResult> AppNewLogs(HttpRequest request, string uuid, string app)
    {
        var (device, payload) = await Authenticate(request, uuid);
        if (device is null)
        {
            return Results.StatusCode(StatusCodes.Status401Unauthorized);
        }

        // Like the controller: logs of an app this device does not run are refused.
        if (!State.ConfigFor(device).Apps.Any(a => a.Uuidandversion.Uuid == app))
        {
            return Results.StatusCode(StatusCodes.Status400BadRequest);
        }

        var file = NewLogsFormat.Unpack(payload);
        foreach (var entry in file.Entries)
        {
            State.AppLogEntries.Enqueue((app, file.Header.AppName ?? "", entry));
        }

        State.Timeline.Enqueue("appnewlogs:" + app);
        return Results.StatusCode(StatusCodes.Status201Created);
    }

    /// <summary>Finds the device by senderCertHash (SHA-256 of its DER), verifies the signature and the path's UUID.</summary>
    private async Task<(RegisteredDevice? Device, byte[] Payload)> Authenticate(HttpRequest request, string? pathUuid = null)
    {
        if (request.ContentType != DeviceApiPaths.ProtoContentType)
        {
            return (null, []);
        }

        var container = Envelope.Parse(await Body(request));
        var device = State.FindByCertificateHash(container.SenderCertHash.Span);
        if (device is null || (pathUuid is not null && pathUuid != device.Uuid))
        {
            return (null, []);
        }

        Envelope.Verify(container, System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(device.CertificatePem));
        return (device, Envelope.Payload(container).ToArray());
    }

    private IResult Signed(byte[] payload, int status) => Proto(_signer.Seal(payload), status);

    private static IResult Proto(byte[] body, int status) => new ProtoResult(body, status);

    private sealed class ProtoResult(byte[] body, int status) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            httpContext.Response.ContentType = DeviceApiPaths.ProtoContentType;
            await httpContext.Response.Body.WriteAsync(body);
        }
    }

    private static async Task<byte[]> Body(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
