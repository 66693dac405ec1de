using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Org.Lfedge.Eve.Certs;
using Outpost.Api.Certificates;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>A certificate with its key and the PEM text it is served as.</summary>
public sealed record IssuedCertificate(X509Certificate2 Certificate, string CertificatePem, string KeyPem)
{
    public X509Certificate2 WithKey() => Pem.CertificateWithKey(CertificatePem, KeyPem);
}

/// <summary>
/// A controller PKI like an EVE controller's: root → intermediate → signing and ECDH leaves, a TLS server
/// certificate for 127.0.0.1 and an onboarding certificate for devices.
/// </summary>
public sealed class TestPki
{
    /// <param name="tlsFromOtherCa">Issue the TLS certificate from a CA of its own (<see cref="TlsCa"/>), as for a controller behind a public certificate.</param>
    public TestPki(string name = "Test Controller", bool tlsFromOtherCa = false)
    {
        Root = CreateCa($"CN={name} Root", issuer: null);
        Intermediate = CreateCa($"CN={name} Intermediate", Root);
        Signing = CreateLeaf($"CN={name} Signing", Intermediate, X509KeyUsageFlags.DigitalSignature);
        KeyExchange = CreateLeaf($"CN={name} ECDH", Intermediate, X509KeyUsageFlags.KeyAgreement);
        TlsCa = tlsFromOtherCa ? CreateCa("CN=Some Public TLS CA", issuer: null) : Root;
        Tls = CreateLeaf("CN=127.0.0.1", TlsCa, X509KeyUsageFlags.DigitalSignature, tlsServer: true);
        Onboarding = CreateSelfSigned("CN=Test Onboarding");
    }

    /// <summary>The CA of <see cref="Tls"/>: <see cref="Root"/> unless the PKI was made with a TLS CA of its own.</summary>
    public IssuedCertificate TlsCa { get; }

    public IssuedCertificate Root { get; }

    public IssuedCertificate Intermediate { get; }

    public IssuedCertificate Signing { get; }

    public IssuedCertificate KeyExchange { get; }

    public IssuedCertificate Tls { get; }

    public IssuedCertificate Onboarding { get; }

    public ZControllerCert ControllerCerts() => Certs(
        (ZCertType.CertTypeControllerSigning, Signing),
        (ZCertType.CertTypeControllerIntermediate, Intermediate),
        (ZCertType.CertTypeControllerEcdhExchange, KeyExchange));

    public static ZControllerCert Certs(params (ZCertType Type, IssuedCertificate Certificate)[] entries)
    {
        var message = new ZControllerCert();
        foreach (var (type, certificate) in entries)
        {
            message.Certs.Add(new ZCert
            {
                Type = type,
                Cert = ByteString.CopyFromUtf8(certificate.CertificatePem),
                HashAlgo = Org.Lfedge.Eve.Common.HashAlgorithm.Sha25616Bytes,
                CertHash = ByteString.CopyFrom(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(certificate.CertificatePem)).AsSpan(0, 16)),
            });
        }

        return message;
    }

    public static IssuedCertificate CreateSelfSigned(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
        return new IssuedCertificate(X509CertificateLoader.LoadCertificate(certificate.RawData), Pem.Certificate(certificate), Pem.PrivateKey(key));
    }

    private static IssuedCertificate CreateCa(string subject, IssuedCertificate? issuer)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        X509Certificate2 certificate;
        if (issuer is null)
        {
            certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
        }
        else
        {
            using var issuerWithKey = issuer.WithKey();
            certificate = request.Create(issuerWithKey, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(9), RandomNumberGenerator.GetBytes(12));
        }

        using (certificate)
        {
            return new IssuedCertificate(X509CertificateLoader.LoadCertificate(certificate.RawData), Pem.Certificate(certificate), Pem.PrivateKey(key));
        }
    }

    private static IssuedCertificate CreateLeaf(string subject, IssuedCertificate issuer, X509KeyUsageFlags usage, bool tlsServer = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        if (tlsServer)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        }

        using var issuerWithKey = issuer.WithKey();
        using var certificate = request.Create(issuerWithKey, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5), RandomNumberGenerator.GetBytes(12));
        return new IssuedCertificate(X509CertificateLoader.LoadCertificate(certificate.RawData), Pem.Certificate(certificate), Pem.PrivateKey(key));
    }
}
