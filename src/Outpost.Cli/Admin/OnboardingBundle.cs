using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;
using Outpost.Api.OsImages;
using Outpost.Cli.Commands;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Pki;

namespace Outpost.Cli.Admin;

/// <summary>
/// Creates an onboarding identity, registers it with its allowed serials, and writes a complete device config
/// folder with EVE's file names — the folder that becomes the CONFIG partition of an Outpost OS image.
/// </summary>
internal static class OnboardingBundle
{
    /// <summary>
    /// Returns the registered certificate and the folder's <c>server</c> text: <paramref name="server"/> (HOST or
    /// HOST:PORT) when given, else the controller's first advertised name, else its listen address.
    /// </summary>
    /// <param name="osSigningKeyPem">The public key OS images must be signed with, written as os-signing.pem; null writes none.</param>
    public static async Task<(OnboardingView View, string Server)> CreateAsync(AdminClient admin, IReadOnlyList<string> serials, string name,
        string configDirectory, string? server, CancellationToken ct, string? osSigningKeyPem = null)
    {
        if (osSigningKeyPem is not null)
        {
            CheckOsSigningKey(osSigningKeyPem);
        }

        var identity = await admin.GetAsync<ControllerIdentity>("api/admin/controller", ct);
        // Checked before anything is registered, so a typo leaves no orphan onboarding certificate behind.
        var serverText = server is not null
            ? AdvertisedNames.ServerFor(server, identity.Server)
            : identity.AdvertisedServers?.FirstOrDefault() ?? identity.Server; // null from a controller older than --advertise

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=Outpost onboarding {name}, O=Outpost", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(20));
        var certificatePem = Pem.Certificate(certificate);

        var view = await admin.PostAsync<OnboardingView>("api/admin/onboarding", new CreateOnboardingRequest(name, certificatePem, serials), ct);

        Directory.CreateDirectory(configDirectory);
        Write(configDirectory, "server", serverText + "\n", secret: false);
        Write(configDirectory, "root-certificate.pem", identity.RootCertificatePem, secret: false);
        Write(configDirectory, "onboard.cert.pem", certificatePem, secret: false);
        Write(configDirectory, "onboard.key.pem", Pem.PrivateKey(key), secret: true);
        if (serials[0] != "*")
        {
            Write(configDirectory, "soft_serial", serials[0] + "\n", secret: false);
        }

        if (osSigningKeyPem is not null)
        {
            WriteOsSigningKey(configDirectory, osSigningKeyPem);
        }

        return (view, serverText);
    }

    /// <summary>Puts the OS signing public key into a config folder as <see cref="OsImageArtifact.TrustedKeyFile"/>; false when it was there already.</summary>
    public static bool WriteOsSigningKey(string configDirectory, string publicKeyPem)
    {
        CheckOsSigningKey(publicKeyPem);
        var path = Path.Combine(configDirectory, OsImageArtifact.TrustedKeyFile);
        if (File.Exists(path) && File.ReadAllText(path) == publicKeyPem)
        {
            return false;
        }

        Directory.CreateDirectory(configDirectory);
        Write(configDirectory, OsImageArtifact.TrustedKeyFile, publicKeyPem, secret: false);
        return true;
    }

    /// <summary>A public key devices can check OS images with; a private key is refused (it must not travel to devices).</summary>
    private static void CheckOsSigningKey(string pem)
    {
        if (pem.Contains("PRIVATE KEY", StringComparison.Ordinal))
        {
            throw new CliException("--os-signing-key must be the public key (KEY.pub.pem from `outpost image keygen`), not the private key: devices only verify.");
        }

        try
        {
            if (OsImageSigner.LoadTrustedKeys(pem).Count == 0)
            {
                throw new CliException("--os-signing-key holds no PEM public key (-----BEGIN PUBLIC KEY-----); give KEY.pub.pem from `outpost image keygen`.");
            }
        }
        catch (OsImageSignatureException e)
        {
            throw new CliException(e.Message);
        }
    }

    private static void Write(string directory, string name, string text, bool secret)
    {
        var path = Path.Combine(directory, name);
        var mode = secret ? UnixFileMode.UserRead | UnixFileMode.UserWrite
            : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        var temp = path + ".tmp";
        File.WriteAllText(temp, text);
        File.SetUnixFileMode(temp, mode);
        File.Move(temp, path, overwrite: true);
    }
}
