using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Outpost.Api.Certificates;

/// <summary>PEM text as both ends write it: one block, LF line ends, trailing newline.</summary>
public static class Pem
{
    public static string Certificate(X509Certificate2 certificate) => certificate.ExportCertificatePem() + "\n";

    public static string PrivateKey(AsymmetricAlgorithm key) => key.ExportPkcs8PrivateKeyPem() + "\n";

    /// <summary>Every certificate in a PEM text, in order (a chain file or a bundle).</summary>
    public static X509Certificate2Collection ParseCertificates(string pem)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPem(pem);
        return collection;
    }

    /// <summary>Loads a certificate and its private key from PEM texts (ECDSA or RSA).</summary>
    public static X509Certificate2 CertificateWithKey(string certificatePem, string keyPem)
    {
        // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
        using var loaded = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        return X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), null);
    }
}
