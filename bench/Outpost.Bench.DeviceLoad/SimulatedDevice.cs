using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Attest;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Register;
using Org.Lfedge.Eve.Uuid;
using Outpost.Api;
using Outpost.Api.Certificates;
using Outpost.Api.Signing;

namespace Outpost.Bench.DeviceLoad;

/// <summary>A request ready to send: where, and the signed envelope.</summary>
public readonly record struct SignedRequest(string Path, byte[] Envelope);

/// <summary>
/// One device with its own key, speaking the wire protocol as an EVE device without a TPM does. After
/// <see cref="OnboardAsync"/> it holds what steady-state polling needs: UUID, integrity token, config hash.
/// </summary>
/// <remarks>Not thread-safe: like a real device it sends one request at a time.</remarks>
public sealed class SimulatedDevice : IDisposable
{
    private readonly X509Certificate2 _certificate;
    private readonly EnvelopeSigner _signer;
    private string _uuid = "";
    private ByteString _integrityToken = ByteString.Empty;
    private string _configHash = "";

    public SimulatedDevice(string serial)
    {
        Serial = serial;
        _certificate = DeviceCertificates.SelfSigned("bench device " + serial);
        _signer = EnvelopeSigner.ForDevice(_certificate);
    }

    public string Serial { get; }

    /// <summary>Register, /uuid, attest (NONCE then an empty QUOTE), then one full config fetch for its hash.</summary>
    public async Task OnboardAsync(DeviceApiClient client, X509Certificate2 onboardingCertificate, ControllerSigningCertificate controller, CancellationToken ct)
    {
        // A signer of its own: devices onboard in parallel and one ECDSA key object must not sign on two threads.
        using var onboarding = EnvelopeSigner.ForOnboarding(onboardingCertificate);
        var register = new ZRegisterMsg
        {
            PemCert = ByteString.CopyFromUtf8(Convert.ToBase64String(Encoding.UTF8.GetBytes(Pem.Certificate(_certificate)))),
            Serial = Serial,
        };
        await ExpectAsync(client, DeviceApiPaths.Register, onboarding.Seal(register), HttpStatusCode.Created, ct);

        var uuid = await ExpectAsync(client, DeviceApiPaths.Uuid, _signer.Seal(new UuidRequest()), HttpStatusCode.OK, ct);
        _uuid = UuidResponse.Parser.ParseFrom(controller.Open(uuid).Span).Uuid;

        var nonceRequest = new ZAttestReq { ReqType = ZAttestReqType.AttestReqNonce };
        await ExpectAsync(client, DeviceApiPaths.Attest(_uuid), _signer.Seal(nonceRequest), HttpStatusCode.Created, ct);
        var quoteRequest = new ZAttestReq { ReqType = ZAttestReqType.AttestReqQuote, Quote = new ZAttestQuote() };
        var quote = await ExpectAsync(client, DeviceApiPaths.Attest(_uuid), _signer.Seal(quoteRequest), HttpStatusCode.Created, ct);
        _integrityToken = ZAttestResponse.Parser.ParseFrom(controller.Open(quote).Span).QuoteResp.IntegrityToken;

        // With no hash yet the controller answers 200 with the full config; later polls name its hash.
        var firstPoll = ConfigPoll();
        var config = await ExpectAsync(client, firstPoll.Path, firstPoll.Envelope, HttpStatusCode.OK, ct);
        _configHash = ConfigResponse.Parser.ParseFrom(controller.Open(config).Span).ConfigHash;
    }

    /// <summary>A config poll naming the hash the device already has; the controller should answer 304.</summary>
    public SignedRequest ConfigPoll() => new(DeviceApiPaths.Config(_uuid),
        _signer.Seal(new ConfigRequest { ConfigHash = _configHash, IntegrityToken = _integrityToken }));

    /// <summary>A device info report stamped now, so each one is a new record rather than a retry.</summary>
    public SignedRequest InfoPost() => new(DeviceApiPaths.Info(_uuid), _signer.Seal(new ZInfoMsg
    {
        Ztype = ZInfoTypes.ZiDevice,
        DevId = _uuid,
        AtTimeStamp = Timestamp.FromDateTime(DateTime.UtcNow),
        Dinfo = new ZInfoDevice
        {
            MachineArch = "x86_64",
            CpuArch = "x86_64",
            Platform = "bench",
            Ncpu = 4,
            Memory = 8192,
            Storage = 65536,
            HostName = Serial,
            PowerCycleCounter = -1,
        },
    }));

    private static async Task<byte[]> ExpectAsync(DeviceApiClient client, string path, byte[] envelope, HttpStatusCode expected, CancellationToken ct)
    {
        var reply = await client.PostAsync(path, envelope, ct);
        if (reply.Status != expected)
        {
            throw new InvalidOperationException($"Setup step {path} answered {(int)reply.Status}, expected {(int)expected}.");
        }

        return reply.Body;
    }

    public void Dispose()
    {
        _signer.Dispose();
        _certificate.Dispose();
    }
}
