using System.Net;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Attest;
using Org.Lfedge.Eve.Certs;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Logs;
using Org.Lfedge.Eve.Uuid;
using Outpost.Api;
using Outpost.Api.Logs;
using Outpost.Api.Signing;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Tests;

public sealed class DeviceApiTests(ControllerFixture fixture) : IClassFixture<ControllerFixture>
{
    [Fact]
    public async Task Ping_is_200()
    {
        using var response = await fixture.Http.GetAsync(DeviceApiPaths.Ping);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public void Certs_hold_one_signing_and_one_ecdh_certificate_chained_to_the_root_and_named_by_pem_hash()
    {
        var container = Envelope.Parse(fixture.CertsBody);
        var certs = ZControllerCert.Parser.ParseFrom(Envelope.Payload(container).Span);
        Assert.Single(certs.Certs, c => c.Type == ZCertType.CertTypeControllerSigning);
        Assert.Single(certs.Certs, c => c.Type == ZCertType.CertTypeControllerEcdhExchange);
        var rootPem = File.ReadAllText(Path.Combine(fixture.DataDirectory, "pki", "root-certificate.pem"));
        var root = X509Certificate2.CreateFromPem(rootPem);
        foreach (var zcert in certs.Certs)
        {
            var pem = zcert.Cert.ToStringUtf8();
            Assert.Equal(CertificateHashes.OfPemText(pem), zcert.CertHash.ToByteArray());
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(root);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            Assert.True(chain.Build(X509Certificate2.CreateFromPem(pem)), $"{zcert.Type} does not chain to the root");
        }

        // The /certs envelope itself is signed by the signing certificate, named by SHA-256 of its served PEM.
        var signingPem = certs.Certs.Single(c => c.Type == ZCertType.CertTypeControllerSigning).Cert.ToStringUtf8();
        Assert.Equal(CertificateHashes.OfPemText(signingPem), container.SenderCertHash.ToByteArray());
        Assert.Equal(Org.Lfedge.Eve.Common.HashAlgorithm.Sha25632Bytes, container.Algo);
        Assert.Equal(64, container.SignatureHash.Length);
        Envelope.Verify(container, X509Certificate2.CreateFromPem(signingPem));
    }

    [Fact]
    public async Task Register_new_device_is_201_and_the_same_certificate_again_is_200()
    {
        var device = await fixture.NewDeviceAsync();
        var first = await device.RegisterAsync();
        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Equal(DeviceApiPaths.ProtoContentType, first.ContentType);
        var again = await device.RegisterAsync();
        Assert.Equal(HttpStatusCode.OK, again.Status);
    }

    [Fact]
    public async Task Register_again_with_a_different_device_certificate_is_409()
    {
        var device = await fixture.NewDeviceAsync();
        Assert.Equal(HttpStatusCode.Created, (await device.RegisterAsync()).Status);
        var conflict = await device.RegisterAsync(TestCertificates.SelfSigned("impostor"));
        Assert.Equal(HttpStatusCode.Conflict, conflict.Status);
        Assert.Contains("different device certificate", conflict.Error);
    }

    [Fact]
    public async Task Register_with_unknown_serial_is_403()
    {
        var device = await fixture.NewDeviceAsync();
        var response = await device.RegisterAsync(serial: "not-on-the-list");
        Assert.Equal(HttpStatusCode.Forbidden, response.Status);
        Assert.Contains("not pre-registered", response.Error);
    }

    [Fact]
    public async Task Register_with_an_onboarding_certificate_the_controller_does_not_know_is_403()
    {
        var stranger = new TestDevice(fixture, TestCertificates.SelfSigned("stranger"), TestCertificates.SelfSigned("device"), "SN-X");
        var response = await stranger.RegisterAsync();
        Assert.Equal(HttpStatusCode.Forbidden, response.Status);
    }

    [Fact]
    public async Task Register_with_a_revoked_onboarding_certificate_is_403()
    {
        var device = await fixture.NewDeviceAsync();
        var store = (IControllerStore)fixture.Host.Services.GetService(typeof(IControllerStore))!;
        var record = await store.FindOnboardingByHashAsync(CertificateHashes.DerHex(device.Onboarding), CancellationToken.None);
        await store.RevokeOnboardingAsync(record!.Id, CancellationToken.None);
        var response = await device.RegisterAsync();
        Assert.Equal(HttpStatusCode.Forbidden, response.Status);
        Assert.Contains("revoked", response.Error);
    }

    [Fact]
    public async Task Tampered_envelope_is_401()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var container = device.Signer.Wrap(new ConfigRequest { IntegrityToken = device.IntegrityToken });
        container.ProtectedPayload.Payload = ByteString.CopyFrom(new ConfigRequest { ConfigHash = "x", IntegrityToken = device.IntegrityToken }.ToByteArray());
        var response = await device.PostAsync(DeviceApiPaths.Config(device.Uuid), container.ToByteArray());
        Assert.Equal(HttpStatusCode.Unauthorized, response.Status);
        Assert.Contains("Signature", response.Error);
    }

    [Fact]
    public async Task Unknown_device_is_404()
    {
        var stranger = EnvelopeSigner.ForDevice(TestCertificates.SelfSigned("unknown"));
        var device = await fixture.NewDeviceAsync();
        var response = await device.PostAsync(DeviceApiPaths.Uuid, stranger.Seal(new UuidRequest()));
        Assert.Equal(HttpStatusCode.NotFound, response.Status);
    }

    [Fact]
    public async Task Malformed_protobuf_envelope_is_400_with_a_reason()
    {
        var device = await fixture.NewDeviceAsync();
        var response = await device.PostAsync(DeviceApiPaths.Uuid, [0xFF, 0xFF, 0xFF, 0x01, 0x02]);
        Assert.Equal(HttpStatusCode.BadRequest, response.Status);
        Assert.Contains("AuthContainer", response.Error);
    }

    [Fact]
    public async Task Malformed_payload_inside_a_valid_envelope_is_400_naming_the_message()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var response = await device.PostAsync(DeviceApiPaths.Info(device.Uuid), device.Signer.Seal([0x0A, 0xFF, 0xFF, 0xFF]));
        Assert.Equal(HttpStatusCode.BadRequest, response.Status);
        Assert.Contains("ZInfoMsg", response.Error);
    }

    [Fact]
    public async Task Oversized_body_is_413()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var response = await device.PostAsync(DeviceApiPaths.Info(device.Uuid), device.Signer.Seal(new byte[300 * 1024]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.Status);
    }

    [Fact]
    public async Task Config_without_an_integrity_token_is_403()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var response = await device.PostAsync(DeviceApiPaths.Config(device.Uuid), device.Signer.Seal(new ConfigRequest()));
        Assert.Equal(HttpStatusCode.Forbidden, response.Status);
    }

    [Fact]
    public async Task First_config_is_a_signed_default_for_the_device_and_the_same_hash_gets_304()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var first = await device.ConfigAsync();
        Assert.Equal(HttpStatusCode.OK, first.Status);
        var config = ConfigResponse.Parser.ParseFrom(fixture.OpenSigned(first.Body).Span);
        Assert.Equal(device.Uuid, config.Config.Id.Uuid);
        Assert.False(string.IsNullOrEmpty(config.Config.ControllercertConfighash));
        Assert.NotNull(config.Config.ConfigTimestamp);
        var again = await device.ConfigAsync(config.ConfigHash);
        Assert.Equal(HttpStatusCode.NotModified, again.Status);
        Assert.Empty(again.Body);
    }

    [Fact]
    public async Task A_device_cannot_use_another_devices_path()
    {
        var a = await fixture.NewDeviceAsync();
        var b = await fixture.NewDeviceAsync();
        await a.OnboardAsync();
        await b.OnboardAsync();
        var response = await a.PostAsync(DeviceApiPaths.Config(b.Uuid), a.Signer.Seal(new ConfigRequest { IntegrityToken = a.IntegrityToken }));
        Assert.Equal(HttpStatusCode.Forbidden, response.Status);
    }

    [Fact]
    public async Task A_quote_without_a_nonce_first_is_a_nonce_mismatch()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var quote = await device.AttestAsync(new ZAttestReq { ReqType = ZAttestReqType.AttestReqQuote, Quote = new ZAttestQuote() });
        Assert.Equal(ZAttestResponseCode.NonceMismatch, quote.QuoteResp.Response);
    }

    [Fact]
    public async Task Retried_info_is_stored_once()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var info = new ZInfoMsg
        {
            Ztype = ZInfoTypes.ZiDevice,
            DevId = device.Uuid,
            AtTimeStamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            Dinfo = new ZInfoDevice { HostName = "edge-1", Ncpu = 2 },
        };
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Created, (await device.PostAsync(DeviceApiPaths.Info(device.Uuid), device.Signer.Seal(info))).Status);
        }

        var store = (IControllerStore)fixture.Host.Services.GetService(typeof(IControllerStore))!;
        Assert.Equal(1, await store.CountInfoAsync(Guid.Parse(device.Uuid), CancellationToken.None));
    }

    [Fact]
    public async Task Newlogs_bundles_are_stored_once_and_a_corrupt_bundle_is_400()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var entries = Enumerable.Range(1, 5).Select(i => new LogEntry
        {
            Severity = "info",
            Source = "test",
            Content = $"line {i}",
            Msgid = (ulong)i,
            Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
        }).ToList();
        var bundle = NewLogsFormat.Pack(entries, new NewLogsHeader(device.Uuid, "IMGA", "0.1.0", null), DateTimeOffset.UtcNow).Single();
        Assert.Equal(HttpStatusCode.Created, (await device.PostAsync(DeviceApiPaths.NewLogs(device.Uuid), device.Signer.Seal(bundle))).Status);
        Assert.Equal(HttpStatusCode.Created, (await device.PostAsync(DeviceApiPaths.NewLogs(device.Uuid), device.Signer.Seal(bundle))).Status);
        var store = (IControllerStore)fixture.Host.Services.GetService(typeof(IControllerStore))!;
        var stored = await store.QueryLogsAsync(Guid.Parse(device.Uuid), null, 0, 100, CancellationToken.None);
        Assert.Equal(["line 1", "line 2", "line 3", "line 4", "line 5"], stored.Select(l => l.Content));

        var corrupt = (byte[])bundle.Clone();
        corrupt[^6] ^= 0xFF;
        var response = await device.PostAsync(DeviceApiPaths.NewLogs(device.Uuid), device.Signer.Seal(corrupt));
        Assert.Equal(HttpStatusCode.BadRequest, response.Status);
    }

    [Fact]
    public async Task Error_bodies_are_signed_by_the_controller_too()
    {
        var device = await fixture.NewDeviceAsync();
        var response = await device.RegisterAsync(serial: "nope");
        Assert.Equal(HttpStatusCode.Forbidden, response.Status);
        var reason = System.Text.Encoding.UTF8.GetString(fixture.OpenSigned(response.Body).Span);
        Assert.Contains("not pre-registered", reason);
    }
}
