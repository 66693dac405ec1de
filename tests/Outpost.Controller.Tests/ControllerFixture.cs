using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Org.Lfedge.Eve.Attest;
using Org.Lfedge.Eve.Certs;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Register;
using Org.Lfedge.Eve.Uuid;
using Outpost.Api;
using Outpost.Api.Certificates;
using Outpost.Api.Signing;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Tests;

/// <summary>A real controller on 127.0.0.1 (Kestrel, HTTPS, random port) in a temp data directory.</summary>
public sealed class ControllerFixture : IAsyncLifetime
{
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("outpost-controller-test-").FullName;

    public ControllerHost Host { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string AdminToken { get; private set; } = "";

    public bool AllowDevicesWithoutTpm { get; init; } = true;

    public async Task InitializeAsync()
    {
        Host = await ControllerHost.StartAsync(
            new ControllerOptions(DataDirectory, new IPEndPoint(IPAddress.Loopback, 0))
            {
                MaxBodyBytes = 256 * 1024,
                AllowDevicesWithoutTpm = AllowDevicesWithoutTpm,
            },
            configureLogging: null,
            CancellationToken.None);
        Http = CreateClient(Host.BaseAddress, Host.Pki.Root);
        AdminToken = (await File.ReadAllTextAsync(Host.AdminTokenPath)).Trim();
        CertsBody = await Http.GetByteArrayAsync(DeviceApiPaths.Certs);
    }

    /// <summary>The /certs response as fetched once at start.</summary>
    public byte[] CertsBody { get; private set; } = [];

    public static HttpClient CreateClient(Uri baseAddress, X509Certificate2 root)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = PrivateRootTrust.Callback(root);
        return new HttpClient(handler) { BaseAddress = baseAddress };
    }

    public HttpClient AdminClient()
    {
        var client = CreateClient(Host.BaseAddress, Host.Pki.Root);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        return client;
    }

    /// <summary>Registers an onboarding certificate for <paramref name="serials"/> straight in the store.</summary>
    public async Task<X509Certificate2> AddOnboardingAsync(params string[] serials)
    {
        var onboarding = TestCertificates.SelfSigned("onboarding " + string.Join(",", serials));
        var store = (IControllerStore)Host.Services.GetService(typeof(IControllerStore))!;
        await store.AddOnboardingAsync(new OnboardingRecord(Guid.NewGuid(), "test", Pem.Certificate(onboarding),
            CertificateHashes.DerHex(onboarding), serials, DateTimeOffset.UtcNow, false), CancellationToken.None);
        return onboarding;
    }

    /// <summary>A device whose onboarding certificate allows its serial.</summary>
    public async Task<TestDevice> NewDeviceAsync(string? serial = null)
    {
        serial ??= "SN-" + Guid.NewGuid().ToString("N")[..8];
        var onboarding = await AddOnboardingAsync(serial);
        return new TestDevice(this, onboarding, TestCertificates.SelfSigned("device " + serial), serial);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Host.DisposeAsync();
        Directory.Delete(DataDirectory, recursive: true);
    }
}

public static class TestCertificates
{
    public static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}

public sealed record DeviceResponse(HttpStatusCode Status, byte[] Body, string? ContentType, string? Error);

/// <summary>A device speaking the wire protocol by hand, so tests hold the controller to the spec.</summary>
public sealed class TestDevice(ControllerFixture fixture, X509Certificate2 onboarding, X509Certificate2 certificate, string serial)
{
    public X509Certificate2 Onboarding { get; } = onboarding;

    public X509Certificate2 Certificate { get; } = certificate;

    public string Serial { get; } = serial;

    public string Uuid { get; private set; } = "";

    public ByteString IntegrityToken { get; private set; } = ByteString.Empty;

    public EnvelopeSigner Signer { get; } = EnvelopeSigner.ForDevice(certificate);

    public Task<DeviceResponse> RegisterAsync(X509Certificate2? deviceCertificate = null, string? serial = null) =>
        PostAsync(DeviceApiPaths.Register, EnvelopeSigner.ForOnboarding(Onboarding).Seal(new ZRegisterMsg
        {
            PemCert = ByteString.CopyFromUtf8(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Pem.Certificate(deviceCertificate ?? Certificate)))),
            Serial = serial ?? Serial,
        }));

    /// <summary>Register, /uuid, NONCE and an empty QUOTE: what an EVE device without a TPM does.</summary>
    public async Task OnboardAsync()
    {
        var register = await RegisterAsync();
        Assert.True(register.Status == HttpStatusCode.Created, $"register answered {register.Status}: {register.Error}");
        var uuid = await PostAsync(DeviceApiPaths.Uuid, Signer.Seal(new UuidRequest()));
        Assert.Equal(HttpStatusCode.OK, uuid.Status);
        Uuid = UuidResponse.Parser.ParseFrom(fixture.OpenSigned(uuid.Body).Span).Uuid;
        var nonce = await AttestAsync(new ZAttestReq { ReqType = ZAttestReqType.AttestReqNonce });
        Assert.Equal(ZAttestRespType.AttestRespNonce, nonce.RespType);
        var quote = await AttestAsync(new ZAttestReq { ReqType = ZAttestReqType.AttestReqQuote, Quote = new ZAttestQuote() });
        Assert.Equal(ZAttestResponseCode.Success, quote.QuoteResp.Response);
        IntegrityToken = quote.QuoteResp.IntegrityToken;
    }

    public async Task<ZAttestResponse> AttestAsync(ZAttestReq request)
    {
        var response = await PostAsync(DeviceApiPaths.Attest(Uuid), Signer.Seal(request));
        Assert.True(response.Status == HttpStatusCode.Created, $"attest answered {response.Status}: {response.Error}");
        return ZAttestResponse.Parser.ParseFrom(fixture.OpenSigned(response.Body).Span);
    }

    public Task<DeviceResponse> ConfigAsync(string hash = "") =>
        PostAsync(DeviceApiPaths.Config(Uuid), Signer.Seal(new ConfigRequest { ConfigHash = hash, IntegrityToken = IntegrityToken }));

    public async Task<DeviceResponse> PostAsync(string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(DeviceApiPaths.ProtoContentType);
        using var response = await fixture.Http.PostAsync(path, content);
        var error = response.Headers.TryGetValues("X-Outpost-Error", out var values) ? values.First() : null;
        return new DeviceResponse(response.StatusCode, await response.Content.ReadAsByteArrayAsync(), response.Content.Headers.ContentType?.MediaType, error);
    }
}

public static class FixtureExtensions
{
    /// <summary>Checks a response envelope the way EVE does: hash of the served signing PEM, then the signature.</summary>
    public static ReadOnlyMemory<byte> OpenSigned(this ControllerFixture fixture, byte[] body)
    {
        var certs = ZControllerCert.Parser.ParseFrom(Envelope.Payload(Envelope.Parse(fixture.CertsBody)).Span);
        var signing = certs.Certs.Single(c => c.Type == ZCertType.CertTypeControllerSigning);
        var pem = signing.Cert.ToStringUtf8();
        return Envelope.Open(body, X509Certificate2.CreateFromPem(pem), CertificateHashes.OfPemText(pem));
    }
}
