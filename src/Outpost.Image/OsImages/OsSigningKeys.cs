using System.Security.Cryptography;

namespace Outpost.Image.OsImages;

/// <summary>
/// The key pair that signs OS images: an ECDSA P-256 private key as PKCS#8 PEM (mode 0600) and its public key
/// (SubjectPublicKeyInfo PEM) beside it (<see cref="PublicKeyPathFor"/>), the file devices trust as <c>os-signing.pem</c> on CONFIG.
/// </summary>
public static class OsSigningKeys
{
    private const string P256Oid = "1.2.840.10045.3.1.7";

    /// <summary>KEY.pem, KEY.key or KEY.key.pem → KEY.pub.pem (any other name gets .pub.pem appended).</summary>
    public static string PublicKeyPathFor(string privateKeyPath)
    {
        foreach (var extension in (string[])[".key.pem", ".pem", ".key"])
        {
            if (privateKeyPath.EndsWith(extension, StringComparison.OrdinalIgnoreCase) && privateKeyPath.Length > extension.Length)
                return privateKeyPath[..^extension.Length] + ".pub.pem";
        }

        return privateKeyPath + ".pub.pem";
    }

    /// <summary>Writes a new key pair; refuses to replace an existing key (images signed with it would stop verifying).</summary>
    /// <returns>The public key's path.</returns>
    public static string Generate(string privateKeyPath)
    {
        var publicKeyPath = PublicKeyPathFor(privateKeyPath);
        foreach (var path in new[] { privateKeyPath, publicKeyPath })
        {
            if (File.Exists(path))
                throw new OsImageFolderException($"{path} exists; an OS signing key is never replaced (devices trust it). Use it, or pick another file name.");
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(privateKeyPath))!;
        Directory.CreateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Write(privateKeyPath, key.ExportPkcs8PrivateKeyPem(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Write(publicKeyPath, key.ExportSubjectPublicKeyInfoPem(),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return publicKeyPath;
    }

    /// <summary>Writes the public key of an existing private key beside it (when it was lost); returns its path.</summary>
    public static string WritePublicKey(string privateKeyPath)
    {
        using var key = LoadPrivateKey(privateKeyPath);
        var publicKeyPath = PublicKeyPathFor(privateKeyPath);
        File.Delete(publicKeyPath);
        Write(publicKeyPath, key.ExportSubjectPublicKeyInfoPem(), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return publicKeyPath;
    }

    /// <summary>Loads a P-256 private key from PEM (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY").</summary>
    public static ECDsa LoadPrivateKey(string path)
    {
        if (!File.Exists(path))
            throw new OsImageFolderException($"signing key {path} does not exist; make one with `outpost image keygen {path}`.");
        var pem = File.ReadAllText(path);
        if (!pem.Contains("PRIVATE KEY-----", StringComparison.Ordinal) || pem.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal))
            throw new OsImageFolderException($"{path} holds no unencrypted private key (PEM 'PRIVATE KEY' or 'EC PRIVATE KEY'); sign with the private key, the .pub.pem is for devices.");
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            if (key.ExportParameters(false).Curve.Oid?.Value != P256Oid)
                throw new OsImageFolderException($"{path} is not a P-256 key; OS images are signed with ECDSA P-256 (`outpost image keygen` makes one).");
            return key;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            key.Dispose();
            throw new OsImageFolderException($"{path} is not an ECDSA private key in PEM: {e.Message}");
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    private static void Write(string path, string text, UnixFileMode mode)
    {
        // Created with its final mode, so the private key is never readable by others, not even for a moment.
        using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode });
        using var writer = new StreamWriter(stream);
        writer.Write(text);
        writer.Flush();
        stream.Flush(flushToDisk: true);
    }
}
