using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Org.Lfedge.Eve.Auth;
using Org.Lfedge.Eve.Register;
using Outpost.Api.Certificates;
using Outpost.Api.Signing;
using Outpost.Api.Tests.Support;
using HashAlgorithm = Org.Lfedge.Eve.Common.HashAlgorithm;

namespace Outpost.Api.Tests.Signing;

public sealed class EnvelopeTests
{
    private static readonly byte[] Payload = Encoding.UTF8.GetBytes("config request payload");

    [Fact]
    public void Device_envelope_names_signer_by_sha256_of_der_and_signs_with_64_byte_r_s()
    {
        using var device = TestCertificates.EcdsaP256("device");
        using var signer = EnvelopeSigner.ForDevice(device);

        var body = signer.Seal(Payload);

        var container = Envelope.Parse(body);
        Assert.Equal(HashAlgorithm.Sha25632Bytes, container.Algo);
        Assert.Equal(SHA256.HashData(device.RawData), container.SenderCertHash.ToByteArray());
        Assert.Equal(64, container.SignatureHash.Length);
        Assert.True(container.SenderCert.IsEmpty, "a device envelope outside registration carries no senderCert");
        var opened = Envelope.Open(body, TestCertificates.PublicOnly(device), CertificateHashes.OfDer(device));
        Assert.Equal(Payload, opened.ToArray());
    }

    [Fact]
    public void Controller_envelope_names_signer_by_sha256_of_served_pem_text()
    {
        using var controller = TestCertificates.EcdsaP256("controller");
        var servedPem = Pem.Certificate(controller);
        using var signer = EnvelopeSigner.ForController(controller, servedPem);

        var body = signer.Seal(Payload);

        var container = Envelope.Parse(body);
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(servedPem)), container.SenderCertHash.ToByteArray());
        Assert.NotEqual(SHA256.HashData(controller.RawData), container.SenderCertHash.ToByteArray());
        var opened = Envelope.Open(body, TestCertificates.PublicOnly(controller), CertificateHashes.OfPemText(servedPem));
        Assert.Equal(Payload, opened.ToArray());
    }

    [Fact]
    public void Rsa_controller_signature_is_pkcs1_v15_and_verifies()
    {
        using var controller = TestCertificates.Rsa2048("rsa-controller");
        var servedPem = Pem.Certificate(controller);
        using var signer = EnvelopeSigner.ForController(controller, servedPem);

        var body = signer.Seal(Payload);

        var container = Envelope.Parse(body);
        Assert.Equal(256, container.SignatureHash.Length);
        using var rsa = controller.GetRSAPublicKey()!;
        Assert.True(rsa.VerifyData(Payload, container.SignatureHash.ToByteArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        var opened = Envelope.Open(body, TestCertificates.PublicOnly(controller), CertificateHashes.OfPemText(servedPem));
        Assert.Equal(Payload, opened.ToArray());
    }

    [Fact]
    public void Tampered_payload_is_refused_as_bad_signature()
    {
        using var device = TestCertificates.EcdsaP256("device");
        using var signer = EnvelopeSigner.ForDevice(device);
        var container = signer.Wrap(Payload);
        container.ProtectedPayload.Payload = ByteString.CopyFromUtf8("config request payloaD");

        var error = Assert.Throws<EnvelopeException>(() =>
            Envelope.Open(container.ToByteArray(), TestCertificates.PublicOnly(device), CertificateHashes.OfDer(device)));

        Assert.Equal(EnvelopeError.BadSignature, error.Error);
    }

    [Fact]
    public void Signature_from_another_key_is_refused_as_bad_signature()
    {
        using var device = TestCertificates.EcdsaP256("device");
        using var impostor = TestCertificates.EcdsaP256("impostor");
        using var signer = EnvelopeSigner.ForDevice(impostor);
        var container = signer.Wrap(Payload);
        container.SenderCertHash = ByteString.CopyFrom(CertificateHashes.OfDer(device));

        var error = Assert.Throws<EnvelopeException>(() =>
            Envelope.Open(container.ToByteArray(), TestCertificates.PublicOnly(device), CertificateHashes.OfDer(device)));

        Assert.Equal(EnvelopeError.BadSignature, error.Error);
    }

    [Fact]
    public void Hash_of_another_certificate_is_a_certificate_mismatch()
    {
        using var device = TestCertificates.EcdsaP256("device");
        using var other = TestCertificates.EcdsaP256("other");
        using var signer = EnvelopeSigner.ForDevice(device);

        var error = Assert.Throws<EnvelopeException>(() =>
            Envelope.Open(signer.Seal(Payload), TestCertificates.PublicOnly(device), CertificateHashes.OfDer(other)));

        Assert.Equal(EnvelopeError.CertificateMismatch, error.Error);
    }

    [Theory]
    [InlineData(HashAlgorithm.Sha25632Bytes, 16)]
    [InlineData(HashAlgorithm.Sha25616Bytes, 32)]
    [InlineData(HashAlgorithm.Sha25632Bytes, 20)]
    public void Sender_hash_length_must_match_the_algorithm(HashAlgorithm algo, int hashLength)
    {
        using var device = TestCertificates.EcdsaP256("device");
        using var signer = EnvelopeSigner.ForDevice(device);
        var container = signer.Wrap(Payload);
        container.Algo = algo;
        container.SenderCertHash = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(hashLength));

        var error = Assert.Throws<EnvelopeException>(() => Envelope.Parse(container.ToByteArray()));

        Assert.Equal(EnvelopeError.BadHashLength, error.Error);
    }

    [Fact]
    public void Sixteen_byte_hash_names_the_signer_by_its_prefix()
    {
        using var device = TestCertificates.EcdsaP256("device");
        using var signer = EnvelopeSigner.ForDevice(device);
        var container = signer.Wrap(Payload);
        container.Algo = HashAlgorithm.Sha25616Bytes;
        container.SenderCertHash = ByteString.CopyFrom(CertificateHashes.OfDer(device).AsSpan(0, 16));

        var opened = Envelope.Open(container.ToByteArray(), TestCertificates.PublicOnly(device), CertificateHashes.OfDer(device));

        Assert.Equal(Payload, opened.ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(77)]
    public void Unknown_hash_algorithm_is_refused(int algo)
    {
        using var device = TestCertificates.EcdsaP256("device");
        using var signer = EnvelopeSigner.ForDevice(device);
        var container = signer.Wrap(Payload);
        container.Algo = (HashAlgorithm)algo;

        var error = Assert.Throws<EnvelopeException>(() => Envelope.Parse(container.ToByteArray()));

        Assert.Equal(EnvelopeError.UnknownHashAlgorithm, error.Error);
    }

    [Fact]
    public void Bytes_that_are_not_protobuf_are_malformed()
    {
        var error = Assert.Throws<EnvelopeException>(() => Envelope.Parse(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF }));

        Assert.Equal(EnvelopeError.Malformed, error.Error);
    }

    [Fact]
    public void Der_ecdsa_signature_is_refused_by_default_and_accepted_when_allowed()
    {
        using var device = TestCertificates.EcdsaP256("device");
        using var signer = EnvelopeSigner.ForDevice(device);
        var container = signer.Wrap(Payload);
        using (var key = device.GetECDsaPrivateKey()!)
        {
            container.SignatureHash = ByteString.CopyFrom(key.SignData(Payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        }

        var parsed = Envelope.Parse(container.ToByteArray());
        var publicOnly = TestCertificates.PublicOnly(device);

        var error = Assert.Throws<EnvelopeException>(() => Envelope.Verify(parsed, publicOnly));
        Assert.Equal(EnvelopeError.BadSignature, error.Error);
        Envelope.Verify(parsed, publicOnly, acceptDerEcdsa: true);
    }

    [Fact]
    public void Registration_envelope_carries_base64_of_onboarding_pem_that_parses_back()
    {
        using var onboarding = TestCertificates.EcdsaP256("onboarding");
        using var device = TestCertificates.EcdsaP256("device");
        var onboardingPem = Pem.Certificate(onboarding);
        using var signer = EnvelopeSigner.ForOnboarding(onboarding, onboardingPem);
        var register = new ZRegisterMsg
        {
            PemCert = ByteString.CopyFromUtf8(Convert.ToBase64String(Encoding.UTF8.GetBytes(Pem.Certificate(device)))),
            Serial = "SN-0001",
        };

        var container = Envelope.Parse(signer.Seal(register));

        Assert.Equal(Convert.ToBase64String(Encoding.UTF8.GetBytes(onboardingPem)), container.SenderCert.ToStringUtf8());
        var (certificate, pemText) = Envelope.SenderCertificate(container);
        Assert.Equal(onboarding.Thumbprint, certificate.Thumbprint);
        Assert.Equal(onboardingPem, pemText);
        Envelope.Verify(container, certificate);
        Assert.Equal(register, ZRegisterMsg.Parser.ParseFrom(Envelope.Payload(container).Span));
    }

    [Fact]
    public void Sender_cert_that_is_not_base64_pem_is_refused()
    {
        using var onboarding = TestCertificates.EcdsaP256("onboarding");
        using var signer = EnvelopeSigner.ForOnboarding(onboarding);
        var container = signer.Wrap(Payload);
        container.SenderCert = ByteString.CopyFromUtf8(Pem.Certificate(onboarding));

        var error = Assert.Throws<EnvelopeException>(() => Envelope.SenderCertificate(container));

        Assert.Equal(EnvelopeError.BadSenderCertificate, error.Error);
    }
}
