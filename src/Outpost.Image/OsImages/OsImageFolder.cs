using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Outpost.Api.OsImages;
using Outpost.Image.Build;

namespace Outpost.Image.OsImages;

/// <summary>An OS image folder that cannot be signed or pushed as it is; the message says what to do.</summary>
public sealed class OsImageFolderException(string message) : ImageBuildException(message);

/// <summary>What /etc/outpost-release in a build says the image is.</summary>
public sealed record OsRelease(string Version, string Architecture);

/// <summary>
/// An <c>outpost image build --out</c> folder as an OS update: the payload files (<see cref="OsImageArtifact.RootfsFile"/>,
/// <see cref="OsImageArtifact.KernelFile"/>, <see cref="OsImageArtifact.InitrdFile"/>), the version its rootfs.tar
/// records, and the signature statement <c>outpost image sign</c> writes beside them.
/// </summary>
public static class OsImageFolder
{
    /// <summary>The payload files, in the order they become layers.</summary>
    public static readonly IReadOnlyList<string> PayloadFiles = [OsImageArtifact.RootfsFile, OsImageArtifact.KernelFile, OsImageArtifact.InitrdFile];

    private const string ReleaseEntry = "etc/outpost-release";

    /// <summary>/etc/outpost-release from the folder's rootfs.tar, or null when the folder has no rootfs.tar or it has no release file.</summary>
    public static async Task<OsRelease?> ReadReleaseAsync(string directory, CancellationToken ct)
    {
        var tar = Path.Combine(directory, ImageBuilder.RootfsTar);
        if (!File.Exists(tar))
            return null;
        await using var stream = File.OpenRead(tar);
        await using var reader = new TarReader(stream);
        while (await reader.GetNextEntryAsync(copyData: false, ct) is { } entry)
        {
            if (entry.Name.TrimStart('.', '/') != ReleaseEntry || entry.DataStream is null)
                continue;
            using var text = new StreamReader(entry.DataStream, Encoding.UTF8);
            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            while (await text.ReadLineAsync(ct) is { } line)
            {
                var split = line.IndexOf('=');
                if (split > 0)
                    fields[line[..split].Trim()] = line[(split + 1)..].Trim().Trim('"');
            }

            return fields.TryGetValue("VERSION", out var version) && version.Length > 0
                ? new OsRelease(version, fields.GetValueOrDefault("ARCH") ?? OsImageArtifact.Architecture)
                : null;
        }

        return null;
    }

    /// <summary>The statement the folder's files make for <paramref name="version"/> (SHA-256 of each payload file).</summary>
    public static async Task<OsImageStatement> DescribeAsync(string directory, string version, CancellationToken ct)
    {
        var hashes = new List<string>();
        foreach (var name in PayloadFiles)
            hashes.Add(await HashAsync(PayloadPath(directory, name), ct));
        return new OsImageStatement(version, OsImageArtifact.Architecture, hashes[0], hashes[1], hashes[2]);
    }

    /// <summary>
    /// Signs the folder: the version is <paramref name="version"/>, else what its rootfs.tar records; both must agree
    /// when both are there, because the device checks the version it asked for against the one the image carries.
    /// Writes <see cref="OsImageArtifact.SignatureFile"/> and returns the signed statement.
    /// </summary>
    public static async Task<OsImageStatement> SignAsync(string directory, ECDsa key, string? version, CancellationToken ct)
    {
        var release = await ReadReleaseAsync(directory, ct);
        if (release is not null && release.Architecture != OsImageArtifact.Architecture)
            throw new OsImageFolderException($"{directory} is an {release.Architecture} build; OS images are {OsImageArtifact.Architecture} only.");
        if (version is not null && release is not null && version != release.Version)
            throw new OsImageFolderException($"{directory} was built as version {release.Version} (its /etc/outpost-release), not {version}: a device would refuse it. Sign it as {release.Version}, or build it again with --version {version}.");
        var resolved = version ?? release?.Version
            ?? throw new OsImageFolderException($"{directory} has no {ImageBuilder.RootfsTar} with /etc/outpost-release to take the version from; pass --version (the one it was built with).");
        CheckVersion(resolved);

        var statement = await DescribeAsync(directory, resolved, ct);
        var bytes = OsImageSigner.Sign(statement, key);
        var path = Path.Combine(directory, OsImageArtifact.SignatureFile);
        var temp = path + ".tmp";
        await File.WriteAllBytesAsync(temp, bytes, ct);
        File.Move(temp, path, overwrite: true);

        // The checksum file makes the signed folder, served by any web server, an update URL for local mode.
        var sums = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [OsImageArtifact.RootfsFile] = statement.RootfsSha256,
            [OsImageArtifact.KernelFile] = statement.KernelSha256,
            [OsImageArtifact.InitrdFile] = statement.InitrdSha256,
            [OsImageArtifact.SignatureFile] = Convert.ToHexStringLower(SHA256.HashData(bytes)),
        };
        var sumsPath = Path.Combine(directory, OsImageChecksums.FileName);
        await File.WriteAllTextAsync(sumsPath + ".tmp", OsImageChecksums.Format(sums), ct);
        File.Move(sumsPath + ".tmp", sumsPath, overwrite: true);
        return statement;
    }

    /// <summary>The folder's signature file, checked to be about the files that are there now.</summary>
    public static async Task<OsImageSignatureFile> ReadSignatureAsync(string directory, CancellationToken ct) =>
        (await ReadSignedAsync(directory, ct)).Signature;

    /// <summary>The signature (checked as <see cref="ReadSignatureAsync"/> does) and the file's bytes.</summary>
    internal static async Task<(OsImageSignatureFile Signature, byte[] Bytes)> ReadSignedAsync(string directory, CancellationToken ct)
    {
        var path = Path.Combine(directory, OsImageArtifact.SignatureFile);
        if (!File.Exists(path))
            throw new OsImageFolderException($"{directory} is not signed: it has no {OsImageArtifact.SignatureFile}. Run `outpost image sign {directory} --key KEY.pem` first (devices refuse unsigned images), or pass --sign-key.");
        if (new FileInfo(path).Length > OsImageSigner.MaxSignatureFileBytes)
            throw new OsImageFolderException($"{path} is larger than {OsImageSigner.MaxSignatureFileBytes} bytes; sign the folder again with `outpost image sign`.");
        var bytes = await File.ReadAllBytesAsync(path, ct);
        OsImageSignatureFile signature;
        try
        {
            signature = OsImageSigner.Parse(bytes);
        }
        catch (OsImageSignatureException e)
        {
            throw new OsImageFolderException($"{path}: {e.Message} Sign the folder again with `outpost image sign`.");
        }

        if (signature.Architecture != OsImageArtifact.Architecture)
            throw new OsImageFolderException($"{path} is for architecture {signature.Architecture}; OS images are {OsImageArtifact.Architecture} only.");
        var actual = await DescribeAsync(directory, signature.Version, ct);
        if (signature.Statement != actual)
            throw new OsImageFolderException($"{directory} changed after it was signed: {OsImageArtifact.SignatureFile} vouches for other bytes than its {string.Join(", ", PayloadFiles)}. Sign it again with `outpost image sign`.");
        return (signature, bytes);
    }

    /// <summary>A version becomes a registry tag and a device's base_os_version: tag characters only.</summary>
    public static void CheckVersion(string version)
    {
        if (version.Length is 0 or > 128 || !(char.IsAsciiLetterOrDigit(version[0]) || version[0] == '_')
            || !version.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            throw new OsImageFolderException($"OS version '{version}' cannot be a registry tag: use 1-128 letters, digits, '.', '_' or '-' (e.g. 0.2.0).");
    }

    internal static string PayloadPath(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        if (!File.Exists(path))
            throw new OsImageFolderException($"{directory} has no {name}: give an `outpost image build --out` folder of a build with a kernel and a disk format (it writes {string.Join(", ", PayloadFiles)}).");
        return path;
    }

    private static async Task<string> HashAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
    }
}
