using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Persistence;
using Outpost.Api.Certificates;

namespace Outpost.Agent.Identity;

/// <summary>
/// Keeps the device key in STATEDIR as <c>device.key.pem</c> (mode 0600) beside <c>device.cert.pem</c>, the
/// way EVE does on hardware without a TPM.
/// </summary>
public sealed partial class FileDeviceKeyStore(string stateDirectory, ILogger<FileDeviceKeyStore> logger, TimeProvider? time = null) : IDeviceKeyStore
{
    public const string CertificateFile = "device.cert.pem";
    public const string KeyFile = "device.key.pem";
    public static readonly TimeSpan Validity = TimeSpan.FromDays(20 * 365);

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string CertificatePath => Path.Combine(stateDirectory, CertificateFile);

    public string KeyPath => Path.Combine(stateDirectory, KeyFile);

    public DeviceIdentity LoadOrCreate(string commonName)
    {
        var certificatePem = AtomicFile.TryReadText(CertificatePath);
        var keyPem = AtomicFile.TryReadText(KeyPath);
        if (certificatePem is not null && keyPem is not null)
        {
            return new DeviceIdentity(Pem.CertificateWithKey(certificatePem, keyPem), certificatePem, CreatedNow: false);
        }

        if (certificatePem is not null || keyPem is not null)
        {
            // Half an identity cannot be repaired: a new key would not match the registered certificate.
            throw new OnboardingException(OnboardingProblem.MissingConfiguration,
                $"Only one of {CertificatePath} and {KeyPath} exists; restore the missing file, or delete both and the device in the controller to start over as a new device");
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(commonName)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var now = _time.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now + Validity);

        var newCertificatePem = Pem.Certificate(certificate);
        var newKeyPem = Pem.PrivateKey(key);
        // The key goes first: a certificate without its key would block every later start.
        AtomicFile.WriteText(KeyPath, newKeyPem, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        AtomicFile.WriteText(CertificatePath, newCertificatePem, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        LogCreated(logger, commonName, certificate.Thumbprint);
        return new DeviceIdentity(Pem.CertificateWithKey(newCertificatePem, newKeyPem), newCertificatePem, CreatedNow: true);
    }

    private static string Escape(string commonName) =>
        string.IsNullOrWhiteSpace(commonName) ? "outpost-device" : commonName.Replace("\"", "").Replace(",", "_").Replace("=", "_");

    [LoggerMessage(Level = LogLevel.Information, Message = "Created device key and self-signed certificate for {CommonName} (thumbprint {Thumbprint})")]
    private static partial void LogCreated(ILogger logger, string commonName, string thumbprint);
}
