using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Org.Lfedge.Eve.Auth;
using Outpost.Api.Certificates;
using Outpost.Api.Signing;
using Outpost.Api.Tests.Support;
using HashAlgorithm = Org.Lfedge.Eve.Common.HashAlgorithm;

namespace Outpost.Api.Tests.Signing;

/// <summary>Vectors made at test time by the real openssl binary, so our envelope code meets an independent implementation.</summary>
public sealed class OpenSslInteropTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly string _keyPath;
    private readonly string _certPath;
    private readonly string _payloadPath;
    private readonly byte[] _payload = Encoding.UTF8.GetBytes("{\"devId\":\"4f6b1d1e\"} signed by openssl");

    public OpenSslInteropTests()
    {
        _keyPath = _directory.File("key.pem");
        _certPath = _directory.File("cert.pem");
        _payloadPath = _directory.File("payload.bin");
        File.WriteAllBytes(_payloadPath, _payload);
        ExternalTool.RunChecked(_directory.Path, "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", _keyPath);
        ExternalTool.RunChecked(_directory.Path, "openssl", "req", "-new", "-x509", "-key", _keyPath, "-out", _certPath,
            "-subj", "/CN=outpost-openssl-test", "-days", "2");
    }

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Openssl_der_signature_converted_to_r_s_verifies_in_our_envelope()
    {
        var signaturePath = _directory.File("payload.sig");
        ExternalTool.RunChecked(_directory.Path, "openssl", "dgst", "-sha256", "-sign", _keyPath, "-out", signaturePath, _payloadPath);
        var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(_certPath));
        var container = new AuthContainer
        {
            ProtectedPayload = new AuthBody { Payload = ByteString.CopyFrom(_payload) },
            Algo = HashAlgorithm.Sha25632Bytes,
            SenderCertHash = ByteString.CopyFrom(CertificateHashes.OfDer(certificate)),
            SignatureHash = ByteString.CopyFrom(DerToRawRs(File.ReadAllBytes(signaturePath), 32)),
        };

        var opened = Envelope.Open(container.ToByteArray(), certificate, CertificateHashes.OfDer(certificate));

        Assert.Equal(_payload, opened.ToArray());
    }

    [Fact]
    public void Our_signature_converted_to_der_verifies_with_openssl_and_a_tampered_payload_does_not()
    {
        using var signingCert = Pem.CertificateWithKey(File.ReadAllText(_certPath), File.ReadAllText(_keyPath));
        using var signer = EnvelopeSigner.ForDevice(signingCert);
        var container = Envelope.Parse(signer.Seal(_payload));
        var signaturePath = _directory.File("ours.sig");
        File.WriteAllBytes(signaturePath, RawRsToDer(container.SignatureHash.Span));
        var publicKeyPath = _directory.File("pub.pem");
        File.WriteAllBytes(publicKeyPath, ExternalTool.RunChecked(_directory.Path, "openssl", "x509", "-in", _certPath, "-pubkey", "-noout").StandardOutput);

        var verified = ExternalTool.RunIn(_directory.Path, "openssl", "dgst", "-sha256", "-verify", publicKeyPath, "-signature", signaturePath, _payloadPath);
        var tamperedPath = _directory.File("tampered.bin");
        File.WriteAllBytes(tamperedPath, [.. _payload, (byte)'!']);
        var tampered = ExternalTool.RunIn(_directory.Path, "openssl", "dgst", "-sha256", "-verify", publicKeyPath, "-signature", signaturePath, tamperedPath);

        Assert.True(verified.ExitCode == 0, $"openssl refused our signature: {verified.StandardOutputText} {verified.StandardError}");
        Assert.Contains("Verified OK", verified.StandardOutputText);
        Assert.NotEqual(0, tampered.ExitCode);
    }

    [Fact]
    public void Der_hash_matches_sha256_of_openssl_der_output()
    {
        var derPath = _directory.File("cert.der");
        ExternalTool.RunChecked(_directory.Path, "openssl", "x509", "-in", _certPath, "-outform", "der", "-out", derPath);
        var opensslDigest = ExternalTool.RunChecked(_directory.Path, "openssl", "dgst", "-sha256", "-binary", derPath).StandardOutput;
        var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(_certPath));

        Assert.Equal(File.ReadAllBytes(derPath), certificate.RawData);
        Assert.Equal(opensslDigest, CertificateHashes.OfDer(certificate));
    }

    [Fact]
    public void Pem_text_hash_matches_openssl_digest_of_the_pem_file()
    {
        var opensslDigest = ExternalTool.RunChecked(_directory.Path, "openssl", "dgst", "-sha256", "-binary", _certPath).StandardOutput;

        Assert.Equal(opensslDigest, CertificateHashes.OfPemText(File.ReadAllText(_certPath)));
        Assert.Equal(opensslDigest, CertificateHashes.OfPemBytes(File.ReadAllBytes(_certPath)));
    }

    /// <summary>ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } → r‖s, each left-padded to the field size.</summary>
    private static byte[] DerToRawRs(byte[] der, int fieldBytes)
    {
        var sequence = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var r = sequence.ReadIntegerBytes().Span.TrimStart((byte)0);
        var s = sequence.ReadIntegerBytes().Span.TrimStart((byte)0);
        var raw = new byte[2 * fieldBytes];
        r.CopyTo(raw.AsSpan(fieldBytes - r.Length));
        s.CopyTo(raw.AsSpan(2 * fieldBytes - s.Length));
        return raw;
    }

    private static byte[] RawRsToDer(ReadOnlySpan<byte> raw)
    {
        var half = raw.Length / 2;
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(new BigInteger(raw[..half], isUnsigned: true, isBigEndian: true));
            writer.WriteInteger(new BigInteger(raw[half..], isUnsigned: true, isBigEndian: true));
        }

        return writer.Encode();
    }
}
