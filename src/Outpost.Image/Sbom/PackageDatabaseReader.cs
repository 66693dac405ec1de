using System.Text;
using Outpost.Image.Rootfs;

namespace Outpost.Image.Sbom;

/// <summary>
/// Reads Debian's <c>var/lib/dpkg/status</c> and Alpine's <c>lib/apk/db/installed</c> wherever they sit in
/// the rootfs (at / from init images, or inside container bundles).
/// </summary>
public static class PackageDatabaseReader
{
    private const string DpkgStatus = "var/lib/dpkg/status";
    private const string ApkInstalled = "lib/apk/db/installed";

    public static IReadOnlyList<InstalledPackage> FindAll(FsTree tree)
    {
        var packages = new List<InstalledPackage>();
        foreach (var (path, entry) in tree.Enumerate())
        {
            if (entry.Type != FsEntryType.File) continue;
            var text = new Lazy<string>(() => Encoding.UTF8.GetString(entry.Content.Span));
            if (path == DpkgStatus || path.EndsWith("/" + DpkgStatus, StringComparison.Ordinal)) packages.AddRange(ParseDpkg(text.Value, path));
            else if (path == ApkInstalled || path.EndsWith("/" + ApkInstalled, StringComparison.Ordinal)) packages.AddRange(ParseApk(text.Value, path));
        }
        return packages;
    }

    public static IEnumerable<InstalledPackage> ParseDpkg(string status, string foundIn)
    {
        foreach (var paragraph in Paragraphs(status))
        {
            var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var line in paragraph)
            {
                var colon = line.IndexOf(':');
                if (colon > 0 && !char.IsWhiteSpace(line[0])) fields[line[..colon]] = line[(colon + 1)..].Trim();
            }
            // Only packages really installed (not removed with config files left behind).
            if (fields.TryGetValue("Package", out var name) && fields.TryGetValue("Status", out var state) && state.EndsWith(" installed", StringComparison.Ordinal))
                yield return new InstalledPackage(name, fields.GetValueOrDefault("Version", ""), fields.GetValueOrDefault("Architecture"), "dpkg", foundIn);
        }
    }

    public static IEnumerable<InstalledPackage> ParseApk(string installed, string foundIn)
    {
        foreach (var paragraph in Paragraphs(installed))
        {
            string? name = null, version = null, arch = null;
            foreach (var line in paragraph)
            {
                if (line.StartsWith("P:", StringComparison.Ordinal)) name = line[2..];
                else if (line.StartsWith("V:", StringComparison.Ordinal)) version = line[2..];
                else if (line.StartsWith("A:", StringComparison.Ordinal)) arch = line[2..];
            }
            if (name is not null) yield return new InstalledPackage(name, version ?? "", arch, "apk", foundIn);
        }
    }

    private static IEnumerable<List<string>> Paragraphs(string text)
    {
        var current = new List<string>();
        foreach (var line in text.Replace("\r", "").Split('\n'))
        {
            if (line.Length == 0)
            {
                if (current.Count > 0) yield return current;
                current = [];
            }
            else current.Add(line);
        }
        if (current.Count > 0) yield return current;
    }
}
