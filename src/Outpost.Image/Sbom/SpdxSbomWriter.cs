using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Outpost.Image.Rootfs;

namespace Outpost.Image.Sbom;

/// <summary>
/// Writes an SPDX 2.3 JSON SBOM: the OS image as the described package, every OCI image it was built from
/// (by manifest digest, as a purl), and every distribution package found in the rootfs. Deterministic:
/// the namespace and creation time derive from the inputs, not the clock.
/// </summary>
public static class SpdxSbomWriter
{
    public static byte[] Write(string osName, string osVersion, string rootfsSha256, IReadOnlyList<UsedImage> images,
        IReadOnlyList<InstalledPackage> packages, DateTimeOffset created)
    {
        var spdxPackages = new JsonArray();
        var relationships = new JsonArray();
        const string osId = "SPDXRef-Package-os";
        spdxPackages.Add(new JsonObject
        {
            ["SPDXID"] = osId,
            ["name"] = osName,
            ["versionInfo"] = osVersion,
            ["downloadLocation"] = "NOASSERTION",
            ["filesAnalyzed"] = false,
            ["checksums"] = new JsonArray(new JsonObject { ["algorithm"] = "SHA256", ["checksumValue"] = rootfsSha256 }),
            ["comment"] = "sha256 of rootfs.tar",
        });
        relationships.Add(Relationship("SPDXRef-DOCUMENT", "DESCRIBES", osId));

        foreach (var group in images.GroupBy(i => (i.Reference, i.ManifestDigest)).OrderBy(g => g.Key.Reference, StringComparer.Ordinal))
        {
            var (reference, digest) = group.Key;
            var id = "SPDXRef-Image-" + Hex(digest)[..16];
            spdxPackages.Add(new JsonObject
            {
                ["SPDXID"] = id,
                ["name"] = reference,
                ["versionInfo"] = digest,
                ["downloadLocation"] = "NOASSERTION",
                ["filesAnalyzed"] = false,
                ["primaryPackagePurpose"] = "CONTAINER",
                ["checksums"] = new JsonArray(new JsonObject { ["algorithm"] = "SHA256", ["checksumValue"] = Hex(digest) }),
                ["externalRefs"] = new JsonArray(new JsonObject
                {
                    ["referenceCategory"] = "PACKAGE-MANAGER",
                    ["referenceType"] = "purl",
                    ["referenceLocator"] = $"pkg:oci/{PurlName(reference)}@{Uri.EscapeDataString(digest)}",
                }),
                ["comment"] = "used as " + string.Join(", ", group.Select(g => g.Location)),
            });
            relationships.Add(Relationship(osId, "CONTAINS", id));
        }

        foreach (var package in packages.OrderBy(p => p.FoundIn, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal))
        {
            var id = "SPDXRef-Package-" + Hex(Sha256($"{package.FoundIn}\n{package.Name}\n{package.Version}"))[..16];
            var purlType = package.Manager == "dpkg" ? "deb" : "apk";
            var purl = $"pkg:{purlType}/{Uri.EscapeDataString(package.Name)}@{Uri.EscapeDataString(package.Version)}" +
                (package.Architecture is { } arch ? $"?arch={Uri.EscapeDataString(arch)}" : "");
            spdxPackages.Add(new JsonObject
            {
                ["SPDXID"] = id,
                ["name"] = package.Name,
                ["versionInfo"] = package.Version,
                ["downloadLocation"] = "NOASSERTION",
                ["filesAnalyzed"] = false,
                ["externalRefs"] = new JsonArray(new JsonObject
                {
                    ["referenceCategory"] = "PACKAGE-MANAGER",
                    ["referenceType"] = "purl",
                    ["referenceLocator"] = purl,
                }),
                ["comment"] = $"{package.Manager} database /{package.FoundIn}",
            });
            relationships.Add(Relationship(osId, "CONTAINS", id));
        }

        var document = new JsonObject
        {
            ["spdxVersion"] = "SPDX-2.3",
            ["dataLicense"] = "CC0-1.0",
            ["SPDXID"] = "SPDXRef-DOCUMENT",
            ["name"] = $"{osName}-{osVersion}",
            ["documentNamespace"] = $"https://spdx.outpost.invalid/{Uri.EscapeDataString(osName)}/{Uri.EscapeDataString(osVersion)}/{rootfsSha256}",
            ["creationInfo"] = new JsonObject
            {
                ["created"] = created.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                ["creators"] = new JsonArray("Tool: outpost-image-builder"),
            },
            ["packages"] = spdxPackages,
            ["relationships"] = relationships,
        };
        return Encoding.UTF8.GetBytes(document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static JsonObject Relationship(string from, string type, string to) => new()
    {
        ["spdxElementId"] = from,
        ["relationshipType"] = type,
        ["relatedSpdxElement"] = to,
    };

    private static string Hex(string digest) => digest.Contains(':') ? digest[(digest.IndexOf(':') + 1)..] : digest;

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string PurlName(string reference)
    {
        var name = reference.StartsWith("oci:", StringComparison.Ordinal) ? reference[4..] : reference;
        var lastSlash = name.LastIndexOf('/');
        var colon = name.IndexOf(':', lastSlash + 1);
        if (colon >= 0) name = name[..colon];
        return Uri.EscapeDataString(name[(name.LastIndexOf('/') + 1)..].ToLowerInvariant());
    }
}
