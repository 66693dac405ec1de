using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Outpost.Api.OsImages;

/// <summary>
/// What an OS image signature vouches for: the version, the architecture and the SHA-256 of each payload file.
/// The signature is ECDSA P-256 with SHA-256 (IEEE P1363 encoding) over <see cref="CanonicalText"/>, so no JSON
/// canonicalisation is involved and both ends sign exactly the same bytes.
/// </summary>
public sealed record OsImageStatement(string Version, string Architecture, string RootfsSha256, string KernelSha256, string InitrdSha256)
{
    public string CanonicalText =>
        $"outpost-os-image-v1\nversion={Version}\narchitecture={Architecture}\nrootfs=sha256:{RootfsSha256}\nkernel=sha256:{KernelSha256}\ninitrd=sha256:{InitrdSha256}\n";
}

/// <summary>The signature file (<see cref="OsImageArtifact.SignatureFile"/>): the statement plus a base64 signature over it.</summary>
public sealed record OsImageSignatureFile(
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("architecture")] string Architecture,
    [property: JsonPropertyName("rootfs")] string RootfsSha256,
    [property: JsonPropertyName("kernel")] string KernelSha256,
    [property: JsonPropertyName("initrd")] string InitrdSha256,
    [property: JsonPropertyName("signature")] string Signature)
{
    public OsImageStatement Statement => new(Version, Architecture, RootfsSha256, KernelSha256, InitrdSha256);
}

[JsonSerializable(typeof(OsImageSignatureFile))]
[JsonSourceGenerationOptions(WriteIndented = true)]
internal sealed partial class OsImageJsonContext : JsonSerializerContext;

/// <summary>An OS image whose signature is missing, malformed, made with another key, or about other bytes.</summary>
public sealed class OsImageSignatureException(string message) : Exception(message);

/// <summary>Signs and verifies OS image statements (<c>outpost image sign</c> on one side, the device's BaseOs on the other).</summary>
public static class OsImageSigner
{
    /// <summary>Upper bound for a signature file: it is untrusted input read before anything is verified.</summary>
    public const int MaxSignatureFileBytes = 16 * 1024;

    public static byte[] Sign(OsImageStatement statement, ECDsa key)
    {
        var signature = key.SignData(Encoding.UTF8.GetBytes(statement.CanonicalText), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var file = new OsImageSignatureFile(statement.Version, statement.Architecture, statement.RootfsSha256, statement.KernelSha256, statement.InitrdSha256,
            Convert.ToBase64String(signature));
        return JsonSerializer.SerializeToUtf8Bytes(file, OsImageJsonContext.Default.OsImageSignatureFile);
    }

    /// <summary>Parses a signature file; a malformed one is an <see cref="OsImageSignatureException"/>, never a crash.</summary>
    public static OsImageSignatureFile Parse(ReadOnlySpan<byte> json)
    {
        if (json.Length > MaxSignatureFileBytes)
            throw new OsImageSignatureException($"The OS image signature is {json.Length} bytes; at most {MaxSignatureFileBytes} are accepted.");
        try
        {
            var file = JsonSerializer.Deserialize(json, OsImageJsonContext.Default.OsImageSignatureFile);
            if (file is null || file.Version is null || file.Architecture is null || file.RootfsSha256 is null || file.KernelSha256 is null
                || file.InitrdSha256 is null || file.Signature is null)
                throw new OsImageSignatureException("The OS image signature file lacks a field (version, architecture, rootfs, kernel, initrd, signature).");
            return file;
        }
        catch (JsonException e)
        {
            throw new OsImageSignatureException($"The OS image signature file is not valid JSON: {e.Message}");
        }
    }

    /// <summary>
    /// Checks the signature against each trusted key and that the statement is about <paramref name="actual"/>.
    /// Throws <see cref="OsImageSignatureException"/> with the reason otherwise.
    /// </summary>
    public static void Verify(OsImageSignatureFile file, OsImageStatement actual, IReadOnlyList<ECDsa> trustedKeys)
    {
        if (trustedKeys.Count == 0)
            throw new OsImageSignatureException($"No key to verify OS images with: put the signing public key on the CONFIG partition as {OsImageArtifact.TrustedKeyFile} (outpost onboarding create --os-signing-key).");
        byte[] signature;
        try { signature = Convert.FromBase64String(file.Signature); }
        catch (FormatException) { throw new OsImageSignatureException("The OS image signature is not base64."); }
        var data = Encoding.UTF8.GetBytes(file.Statement.CanonicalText);
        if (!trustedKeys.Any(k => k.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)))
            throw new OsImageSignatureException("The OS image signature does not verify with the key on the CONFIG partition: it was signed with another key or altered.");
        if (file.Statement != actual)
            throw new OsImageSignatureException(
                $"The OS image signature is about other bytes: it vouches for version {file.Version}/{file.Architecture} rootfs {Short(file.RootfsSha256)} kernel {Short(file.KernelSha256)} initrd {Short(file.InitrdSha256)}, " +
                $"the image is {actual.Version}/{actual.Architecture} rootfs {Short(actual.RootfsSha256)} kernel {Short(actual.KernelSha256)} initrd {Short(actual.InitrdSha256)}.");
    }

    /// <summary>Loads every public key in a PEM text (SubjectPublicKeyInfo blocks).</summary>
    public static IReadOnlyList<ECDsa> LoadTrustedKeys(string pem)
    {
        var keys = new List<ECDsa>();
        const string begin = "-----BEGIN PUBLIC KEY-----";
        const string end = "-----END PUBLIC KEY-----";
        for (int at = pem.IndexOf(begin, StringComparison.Ordinal); at >= 0; at = pem.IndexOf(begin, at + begin.Length, StringComparison.Ordinal))
        {
            int stop = pem.IndexOf(end, at, StringComparison.Ordinal);
            if (stop < 0) break;
            var key = ECDsa.Create();
            try { key.ImportFromPem(pem.AsSpan(at, stop + end.Length - at)); }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                key.Dispose();
                throw new OsImageSignatureException($"{OsImageArtifact.TrustedKeyFile} holds a public key that is not an ECDSA key: {e.Message}");
            }
            keys.Add(key);
        }
        return keys;
    }

    private static string Short(string hex) => hex.Length > 12 ? hex[..12] : hex;
}
