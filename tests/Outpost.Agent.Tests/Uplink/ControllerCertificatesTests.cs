using Org.Lfedge.Eve.Certs;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Uplink;
using Outpost.Api.Signing;

namespace Outpost.Agent.Tests.Uplink;

public sealed class ControllerCertificatesTests
{
    private static readonly TestPki Pki = new();

    private static ControllerCertificates Validate(ZControllerCert certs, TestPki? rootOf = null) =>
        ControllerCertificates.Validate(certs, (rootOf ?? Pki).Root.Certificate, DateTimeOffset.UtcNow);

    [Fact]
    public void Signing_and_ECDH_chaining_through_an_intermediate_are_trusted()
    {
        var trusted = Validate(Pki.ControllerCerts());

        Assert.Equal(Pki.Signing.Certificate.Thumbprint, trusted.Signing.Thumbprint);
        Assert.Equal(CertificateHashes.OfPemText(Pki.Signing.CertificatePem), trusted.SigningHash);
        Assert.Single(trusted.KeyExchange);
    }

    [Fact]
    public void Missing_ECDH_certificate_is_refused()
    {
        var certs = TestPki.Certs((ZCertType.CertTypeControllerSigning, Pki.Signing), (ZCertType.CertTypeControllerIntermediate, Pki.Intermediate));

        var error = Assert.Throws<ControllerTrustException>(() => Validate(certs));
        Assert.Contains("no ECDH", error.Message);
    }

    [Fact]
    public void Two_signing_certificates_are_refused()
    {
        var certs = TestPki.Certs(
            (ZCertType.CertTypeControllerSigning, Pki.Signing),
            (ZCertType.CertTypeControllerSigning, Pki.KeyExchange),
            (ZCertType.CertTypeControllerIntermediate, Pki.Intermediate),
            (ZCertType.CertTypeControllerEcdhExchange, Pki.KeyExchange));

        var error = Assert.Throws<ControllerTrustException>(() => Validate(certs));
        Assert.Contains("2 SIGNING", error.Message);
    }

    [Fact]
    public void Certificates_of_another_root_are_refused()
    {
        var error = Assert.Throws<ControllerTrustException>(() => Validate(Pki.ControllerCerts(), rootOf: new TestPki("Elsewhere")));
        Assert.Contains("does not chain to root-certificate.pem", error.Message);
    }

    [Fact]
    public void Missing_intermediate_breaks_the_chain()
    {
        var certs = TestPki.Certs((ZCertType.CertTypeControllerSigning, Pki.Signing), (ZCertType.CertTypeControllerEcdhExchange, Pki.KeyExchange));

        Assert.Throws<ControllerTrustException>(() => Validate(certs));
    }

    [Fact]
    public void Device_certificate_types_in_the_controller_list_are_refused()
    {
        var certs = Pki.ControllerCerts();
        certs.Certs.Add(TestPki.Certs((ZCertType.CertTypeDeviceOnboarding, Pki.Onboarding)).Certs);

        Assert.Throws<ControllerTrustException>(() => Validate(certs));
    }
}
