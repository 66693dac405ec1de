using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;

namespace Outpost.Agent.Identity;

/// <summary>
/// CONFDIR, laid out with EVE's file names: <c>server</c> (host[:port]), <c>root-certificate.pem</c>,
/// <c>onboard.cert.pem</c> + <c>onboard.key.pem</c>, optional <c>soft_serial</c>.
/// </summary>
public sealed class ConfigurationDirectory
{
    public const string ServerFile = "server";
    public const string RootCertificateFile = "root-certificate.pem";
    public const string OnboardCertificateFile = "onboard.cert.pem";
    public const string OnboardKeyFile = "onboard.key.pem";
    public const string SoftSerialFile = "soft_serial";

    private ConfigurationDirectory(string path, string server, X509Certificate2 root, string onboardPem, string onboardKeyPem, string? softSerial)
    {
        Path = path;
        Server = server;
        RootCertificate = root;
        OnboardCertificatePem = onboardPem;
        OnboardKeyPem = onboardKeyPem;
        SoftSerial = softSerial;
    }

    public string Path { get; }

    /// <summary>host[:port] of the controller, as written in CONFDIR/server.</summary>
    public string Server { get; }

    public X509Certificate2 RootCertificate { get; }

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
        return new ConfigurationDirectory(path, server, root, onboardPem, onboardKey, string.IsNullOrEmpty(softSerial) ? null : softSerial);
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
