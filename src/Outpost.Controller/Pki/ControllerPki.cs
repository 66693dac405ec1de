using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;
using Outpost.Api.Signing;

namespace Outpost.Controller.Pki;

/// <summary>
/// The controller's certificates: a root CA that devices trust (their root-certificate.pem), a TLS server
/// certificate, and the object-signing (SIGNING) and key-exchange (ECDH) certificates served by /certs.
/// All three leaves chain to the root: EVE verifies the /certs chain against root-certificate.pem, so
/// unchained, self-signed leaves are refused by real devices.
/// </summary>
public sealed class ControllerPki : IDisposable
{
    private const string RootCertFile = "root-certificate.pem";
    private const string RootKeyFile = "root.key.pem";
    private const string TlsCertFile = "server.cert.pem";
    private const string TlsKeyFile = "server.key.pem";
    private const string SigningCertFile = "signing.cert.pem";
    private const string SigningKeyFile = "signing.key.pem";
    private const string EcdhCertFile = "ecdh.cert.pem";
    private const string EcdhKeyFile = "ecdh.key.pem";

    private ControllerPki(X509Certificate2 root, X509Certificate2 tls, X509Certificate2 signing, string signingPem, X509Certificate2 ecdh, string ecdhPem,
        IReadOnlyList<string> advertisedNames)
    {
        Root = root;
        AdvertisedNames = advertisedNames;
        RootPem = Pem.Certificate(root);
        TlsCertificate = tls;
        SigningCertificate = signing;
        SigningPem = signingPem;
        EcdhCertificate = ecdh;
        EcdhPem = ecdhPem;
        Signer = EnvelopeSigner.ForController(signing, signingPem);
    }

    public X509Certificate2 Root { get; }

    public string RootPem { get; }

    public X509Certificate2 TlsCertificate { get; }

    public X509Certificate2 SigningCertificate { get; }

    /// <summary>The signing certificate's PEM text exactly as served from /certs; its SHA-256 names the signer.</summary>
    public string SigningPem { get; }

    public X509Certificate2 EcdhCertificate { get; }

    public string EcdhPem { get; }

    public EnvelopeSigner Signer { get; }

    /// <summary>The names and addresses devices are told to use (see <see cref="Pki.AdvertisedNames"/>), first the default.</summary>
    public IReadOnlyList<string> AdvertisedNames { get; }

    /// <summary>
    /// Loads the PKI from <paramref name="directory"/>, creating whatever is missing. The TLS certificate covers
    /// <paramref name="hostNames"/> (the listen address) and the advertised names; it is re-issued from the same root
    /// when it lacks one of them or when the advertised names differ from those saved by the previous start, and left
    /// untouched otherwise. The root, SIGNING and ECDH certificates never change here, so onboarded devices keep
    /// trusting the controller. <paramref name="advertisedNames"/> null keeps the saved ones.
    /// </summary>
    public static ControllerPki LoadOrCreate(string directory, IReadOnlyCollection<string> hostNames, IReadOnlyList<string>? advertisedNames = null,
        TimeProvider? time = null)
    {
        Directory.CreateDirectory(directory);
        var now = (time ?? TimeProvider.System).GetUtcNow();
        var root = LoadOrCreateRoot(directory, now);

        var saved = Pki.AdvertisedNames.Load(directory);
        var advertised = advertisedNames ?? saved;
        var sanNames = hostNames.Concat(advertised).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var tls = LoadLeaf(directory, TlsCertFile, TlsKeyFile);
        // Compared as sets: only the order changing (another default server) needs no new certificate.
        if (tls is null || !CoversHostNames(tls, sanNames) || !saved.ToHashSet(StringComparer.OrdinalIgnoreCase).SetEquals(advertised))
        {
            tls?.Dispose();
            tls = IssueLeaf(directory, root, TlsCertFile, TlsKeyFile, "Outpost controller TLS", now, LeafKind.Tls, sanNames);
        }

        // Saved after the certificate: a crash in between makes the next start issue it again, never skip it.
        if (!saved.SequenceEqual(advertised, StringComparer.Ordinal))
        {
            Pki.AdvertisedNames.Save(directory, advertised);
        }

        var signing = LoadLeaf(directory, SigningCertFile, SigningKeyFile)
            ?? IssueLeaf(directory, root, SigningCertFile, SigningKeyFile, "Outpost controller signing", now, LeafKind.Signing, []);
        var ecdh = LoadLeaf(directory, EcdhCertFile, EcdhKeyFile)
            ?? IssueLeaf(directory, root, EcdhCertFile, EcdhKeyFile, "Outpost controller ECDH", now, LeafKind.Ecdh, []);

        return new ControllerPki(root, tls, signing, File.ReadAllText(Path.Combine(directory, SigningCertFile)),
            ecdh, File.ReadAllText(Path.Combine(directory, EcdhCertFile)), advertised);
    }

    private static X509Certificate2 LoadOrCreateRoot(string directory, DateTimeOffset now)
    {
        var existing = LoadLeaf(directory, RootCertFile, RootKeyFile);
        if (existing is not null)
        {
            return existing;
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Outpost controller root CA, O=Outpost", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var root = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(30));
        WritePair(directory, RootCertFile, RootKeyFile, root, key);
        return LoadLeaf(directory, RootCertFile, RootKeyFile)!;
    }

    private enum LeafKind
    {
        Tls,
        Signing,
        Ecdh,
    }

    private static X509Certificate2 IssueLeaf(string directory, X509Certificate2 root, string certFile, string keyFile,
        string commonName, DateTimeOffset now, LeafKind kind, IReadOnlyCollection<string> hostNames)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}, O=Outpost", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        switch (kind)
        {
            case LeafKind.Tls:
                request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
                request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
                var san = new SubjectAlternativeNameBuilder();
                foreach (var name in hostNames.Append("localhost").Distinct(StringComparer.OrdinalIgnoreCase))
                {
                    if (IPAddress.TryParse(name, out var ip))
                    {
                        san.AddIpAddress(ip);
                    }
                    else
                    {
                        san.AddDnsName(name);
                    }
                }

                request.CertificateExtensions.Add(san.Build());
                break;
            case LeafKind.Signing:
                request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
                break;
            case LeafKind.Ecdh:
                request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyAgreement, true));
                break;
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(root, now.AddMinutes(-5), now.AddYears(10), serial);
        WritePair(directory, certFile, keyFile, issued, key);
        return LoadLeaf(directory, certFile, keyFile)!;
    }

    private static bool CoversHostNames(X509Certificate2 certificate, IReadOnlyCollection<string> hostNames) =>
        hostNames.All(name => certificate.MatchesHostname(name, allowWildcards: false, allowCommonName: false));

    private static X509Certificate2? LoadLeaf(string directory, string certFile, string keyFile)
    {
        var certPath = Path.Combine(directory, certFile);
        var keyPath = Path.Combine(directory, keyFile);
        if (!File.Exists(certPath) || !File.Exists(keyPath))
        {
            return null;
        }

        return Pem.CertificateWithKey(File.ReadAllText(certPath), File.ReadAllText(keyPath));
    }

    private static void WritePair(string directory, string certFile, string keyFile, X509Certificate2 certificate, ECDsa key)
    {
        AtomicFile.WriteAllText(Path.Combine(directory, keyFile), Pem.PrivateKey(key), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        AtomicFile.WriteAllText(Path.Combine(directory, certFile), Pem.Certificate(certificate),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    public void Dispose()
    {
        Signer.Dispose();
        Root.Dispose();
        TlsCertificate.Dispose();
        SigningCertificate.Dispose();
        EcdhCertificate.Dispose();
    }
}
