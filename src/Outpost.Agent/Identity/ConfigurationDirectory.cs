using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;

namespace Outpost.Agent.Identity;

/// <summary>
/// CONFDIR, laid out with EVE's file names: <c>server</c> (host[:port]), <c>root-certificate.pem</c>,
/// <c>onboard.cert.pem</c> + <c>onboard.key.pem</c>, optional <c>soft_serial</c> and optional
/// <c>v2tlsbaseroot-certificates.pem</c> (more roots the controller's TLS certificate may chain to, for a controller
/// behind a TLS certificate of its own).
/// </summary>
public sealed class ConfigurationDirectory
{
    public const string ServerFile = "server";
    public const string RootCertificateFile = "root-certificate.pem";
    public const string OnboardCertificateFile = "onboard.cert.pem";
    public const string OnboardKeyFile = "onboard.key.pem";
    public const string SoftSerialFile = "soft_serial";
    public const string TlsRootsFile = "v2tlsbaseroot-certificates.pem";

    private ConfigurationDirectory(
        string path, string server, X509Certificate2 root, IReadOnlyList<X509Certificate2> tlsRoots, string onboardPem, string onboardKeyPem, string? softSerial)
    {
        Path = path;
        Server = server;
        RootCertificate = root;
        TlsRoots = tlsRoots;
        OnboardCertificatePem = onboardPem;
        OnboardKeyPem = onboardKeyPem;
        SoftSerial = softSerial;
    }

    public string Path { get; }

    /// <summary>host[:port] of the controller, as written in CONFDIR/server.</summary>
    public string Server { get; }

    public X509Certificate2 RootCertificate { get; }

    /// <summary>
    /// The roots the controller's TLS certificate may chain to: root-certificate.pem plus the certificates of
    /// v2tlsbaseroot-certificates.pem. Never the system's public roots: a device trusts its controller, not any CA.
    /// </summary>
    public IReadOnlyList<X509Certificate2> TlsRoots { get; }

    /// <summary>The onboarding certificate's PEM text exactly as in the file: it travels as senderCert.</summary>
    public string OnboardCertificatePem { get; }

    public string OnboardKeyPem { get; }

    public string? SoftSerial { get; }

    public Uri ServerUri => new($"https://{Server}");

    public X509Certificate2 LoadOnboardingCertificate() => Pem.CertificateWithKey(OnboardCertificatePem, OnboardKeyPem);

    public static ConfigurationDirectory Load(string path)
    {
        var server = ReadRequired(path, ServerFile).Trim();
        if (server.Length == 0)
        {
            throw Missing(path, ServerFile, "is empty; write the controller's host:port into it");
        }

        X509Certificate2 root;
        try
        {
            root = X509Certificate2.CreateFromPem(ReadRequired(path, RootCertificateFile));
        }
        catch (CryptographicException e)
        {
            throw Missing(path, RootCertificateFile, $"is not a PEM certificate ({e.Message}); copy the controller's root certificate there", e);
        }

        var onboardPem = ReadRequired(path, OnboardCertificateFile);
        var onboardKey = ReadRequired(path, OnboardKeyFile);
        var softSerial = File.Exists(System.IO.Path.Combine(path, SoftSerialFile))
            ? File.ReadAllText(System.IO.Path.Combine(path, SoftSerialFile)).Trim()
            : null;
        return new ConfigurationDirectory(path, server, root, [root, .. ReadTlsRoots(path)], onboardPem, onboardKey,
            string.IsNullOrEmpty(softSerial) ? null : softSerial);
    }

    private static X509Certificate2Collection ReadTlsRoots(string path)
    {
        var file = System.IO.Path.Combine(path, TlsRootsFile);
        var roots = new X509Certificate2Collection();
        if (!File.Exists(file))
        {
            return roots;
        }

        try
        {
            roots.ImportFromPem(File.ReadAllText(file));
        }
        catch (CryptographicException e)
        {
            throw Missing(path, TlsRootsFile, $"is not a list of PEM certificates ({e.Message}); fix it or remove it", e);
        }

        return roots;
    }

    private static string ReadRequired(string directory, string name)
    {
        var file = System.IO.Path.Combine(directory, name);
        try
        {
            return File.ReadAllText(file);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Missing(directory, name, "is missing; create the configuration with `outpost onboarding create` or copy it from the controller", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw Missing(directory, name, $"cannot be read ({e.Message}); fix its permissions", e);
        }
    }

    private static OnboardingException Missing(string directory, string name, string what, Exception? inner = null) =>
        new(OnboardingProblem.MissingConfiguration, $"{System.IO.Path.Combine(directory, name)} {what}", inner);
}
