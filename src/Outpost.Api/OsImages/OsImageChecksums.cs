using System.Globalization;
using System.Text;

namespace Outpost.Api.OsImages;

/// <summary>A checksum file that does not say what a local update needs; the message says what is wrong.</summary>
public sealed class OsImageChecksumsException(string message) : Exception(message);

/// <summary>
/// <c>SHA256SUMS</c> of a signed OS image folder (the format of GNU <c>sha256sum</c>: "HEX  NAME" per line), so that
/// the folder served by any web server is an update URL for local mode (`outpost os update --url`). The checksums
/// say which bytes to fetch; the signature file, itself listed, says whether to trust them.
/// </summary>
public static class OsImageChecksums
{
    public const string FileName = "SHA256SUMS";

    /// <summary>What the file lists, in this order: the payload and the signature.</summary>
    public static readonly IReadOnlyList<string> Files =
        [OsImageArtifact.RootfsFile, OsImageArtifact.KernelFile, OsImageArtifact.InitrdFile, OsImageArtifact.SignatureFile];

    /// <summary>Enough for the four lines and some more; a larger file is not one of ours.</summary>
    public const int MaxBytes = 64 * 1024;

    public static string Format(IReadOnlyDictionary<string, string> sha256ByFile)
    {
        var text = new StringBuilder();
        foreach (var name in Files)
            text.Append(CultureInfo.InvariantCulture, $"{sha256ByFile[name]}  {name}\n");
        return text.ToString();
    }

    /// <summary>The sha256 (lowercase hex) of each of <see cref="Files"/>; other lines are ignored.</summary>
    public static IReadOnlyDictionary<string, string> Parse(ReadOnlySpan<byte> content)
    {
        if (content.Length > MaxBytes)
            throw new OsImageChecksumsException($"{FileName} is {content.Length} bytes; an OS image's has four lines (at most {MaxBytes} bytes).");
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in Encoding.UTF8.GetString(content).Split('\n'))
        {
            number++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
                continue;
            // "HEX  NAME" (text mode) or "HEX *NAME" (binary mode).
            if (line.Length < 67 || line[64] != ' ' || line[65] is not (' ' or '*') || !line[..64].All(char.IsAsciiHexDigit))
                throw new OsImageChecksumsException($"{FileName} line {number} is not \"SHA256  NAME\" as sha256sum writes it.");
            var name = line[66..];
            if (Files.Contains(name) && !found.TryAdd(name, line[..64].ToLowerInvariant()))
                throw new OsImageChecksumsException($"{FileName} lists {name} twice.");
        }

        var missing = Files.Where(f => !found.ContainsKey(f)).ToList();
        if (missing.Count > 0)
            throw new OsImageChecksumsException($"{FileName} does not list {string.Join(", ", missing)}; sign the folder with `outpost image sign`, which writes it.");
        return found;
    }
}
