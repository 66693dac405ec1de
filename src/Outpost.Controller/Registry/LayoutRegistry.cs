using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;

namespace Outpost.Controller.Registry;

/// <summary>A manifest as the registry serves it: the stored bytes (verified), their media type and digest.</summary>
internal sealed record ServedManifest(byte[] Content, string MediaType, OciDigest Digest);

/// <summary>A blob as the registry serves it: a file in the layout, streamed (and ranged) from disk.</summary>
internal sealed record ServedBlob(string Path, OciDigest Digest, long Size);

/// <summary>
/// Read-only lookups in the OCI image layout the controller serves (DATA/registry). A repository exists when some
/// <c>index.json</c> entry is named <c>&lt;name&gt;:&lt;tag&gt;</c>; a digest is served only when one of that
/// repository's tags reaches it, so one repository's name never unlocks another's content. The layout is read on every
/// request, so what an operator copies in (e.g. with <c>skopeo copy … oci:DATA/registry:name:tag</c>) is served at once.
/// </summary>
internal sealed class LayoutRegistry(string layoutPath)
{
    /// <summary>Index nesting deeper than this is not followed (the same bound the layout store applies).</summary>
    private const int MaxNesting = 4;

    public string LayoutPath { get; } = layoutPath;

    /// <summary>The tags of <paramref name="name"/>, sorted; throws NAME_UNKNOWN when it has none.</summary>
    public async Task<IReadOnlyList<string>> ListTagsAsync(string name, CancellationToken ct) =>
        (await RootsAsync(name, ct)).Select(r => r.Tag).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    /// <summary>The manifest or index <paramref name="reference"/> (a tag or a digest) names in <paramref name="name"/>.</summary>
    public async Task<ServedManifest> GetManifestAsync(string name, string reference, CancellationToken ct)
    {
        var layout = OpenLayout() ?? throw RegistryLookupException.NameUnknown(name);
        var roots = await RootsAsync(layout, name, ct);
        Descriptor? descriptor;
        if (OciDigest.TryParse(reference, out var digest))
        {
            var reachable = await ReachableAsync(layout, roots.Select(r => r.Descriptor), ct);
            descriptor = reachable.GetValueOrDefault(digest);
        }
        else
        {
            // Several entries under one tag (one per platform) would need an index we do not have; serve the first.
            descriptor = roots.FirstOrDefault(r => r.Tag == reference).Descriptor;
        }

        if (descriptor is null || !(MediaTypes.IsManifest(descriptor.MediaType) || MediaTypes.IsIndex(descriptor.MediaType)) || !layout.HasBlob(descriptor.Digest))
        {
            throw RegistryLookupException.ManifestUnknown(name, reference);
        }

        var content = await ReadVerifiedAsync(layout, descriptor.Digest, ct);
        return new ServedManifest(content, descriptor.MediaType, descriptor.Digest);
    }

    /// <summary>The blob <paramref name="digest"/> if a tag of <paramref name="name"/> reaches it and the layout holds it.</summary>
    public async Task<ServedBlob> GetBlobAsync(string name, OciDigest digest, CancellationToken ct)
    {
        var layout = OpenLayout() ?? throw RegistryLookupException.NameUnknown(name);
        var roots = await RootsAsync(layout, name, ct);
        var reachable = await ReachableAsync(layout, roots.Select(r => r.Descriptor), ct);
        var path = layout.GetBlobPath(digest);
        var file = new FileInfo(path);
        if (!reachable.ContainsKey(digest) || !file.Exists)
        {
            throw RegistryLookupException.BlobUnknown(name, digest.ToString());
        }

        // Large blobs are not re-hashed per request: the client verifies the digest while it downloads.
        return new ServedBlob(path, digest, file.Length);
    }

    private async Task<IReadOnlyList<(string Tag, Descriptor Descriptor)>> RootsAsync(string name, CancellationToken ct) =>
        await RootsAsync(OpenLayout() ?? throw RegistryLookupException.NameUnknown(name), name, ct);

    private static async Task<IReadOnlyList<(string Tag, Descriptor Descriptor)>> RootsAsync(OciLayout layout, string name, CancellationToken ct)
    {
        ImageIndex index;
        try
        {
            index = await layout.ReadIndexAsync(ct);
        }
        catch (UnsupportedContentException)
        {
            throw RegistryLookupException.NameUnknown(name);
        }

        var prefix = name + ":";
        var roots = index.Manifests
            .Where(m => m.RefName is { } refName && refName.StartsWith(prefix, StringComparison.Ordinal) && RepositoryName.IsValidTag(refName[prefix.Length..]))
            .Select(m => (Tag: m.RefName![prefix.Length..], Descriptor: m))
            .ToList();
        return roots.Count == 0 ? throw RegistryLookupException.NameUnknown(name) : roots;
    }

    /// <summary>Every descriptor the roots reach (indexes and manifests followed; missing children skipped).</summary>
    private static async Task<Dictionary<OciDigest, Descriptor>> ReachableAsync(OciLayout layout, IEnumerable<Descriptor> roots, CancellationToken ct)
    {
        var reachable = new Dictionary<OciDigest, Descriptor>();
        var pending = new Stack<(Descriptor Descriptor, int Depth)>(roots.Select(r => (r, 0)));
        while (pending.TryPop(out var item))
        {
            var (descriptor, depth) = item;
            if (!reachable.TryAdd(descriptor.Digest, descriptor) || depth > MaxNesting || !layout.HasBlob(descriptor.Digest))
            {
                continue;
            }

            if (MediaTypes.IsIndex(descriptor.MediaType))
            {
                var nested = OciJson.Deserialize<ImageIndex>(await ReadVerifiedAsync(layout, descriptor.Digest, ct), $"index {descriptor.Digest}");
                foreach (var child in nested.Manifests)
                {
                    pending.Push((child, depth + 1));
                }
            }
            else if (MediaTypes.IsManifest(descriptor.MediaType))
            {
                var manifest = OciJson.Deserialize<ImageManifest>(await ReadVerifiedAsync(layout, descriptor.Digest, ct), $"manifest {descriptor.Digest}");
                pending.Push((manifest.Config, depth + 1));
                foreach (var layer in manifest.Layers)
                {
                    pending.Push((layer, depth + 1));
                }
            }
        }

        return reachable;
    }

    private static async Task<byte[]> ReadVerifiedAsync(OciLayout layout, OciDigest digest, CancellationToken ct)
    {
        try
        {
            return await layout.ReadBlobAsync(digest, ct);
        }
        catch (DigestMismatchException e)
        {
            // A damaged layout is the operator's problem to fix; never serve bytes that do not match their name.
            throw new RegistryLookupException(StatusCodes.Status500InternalServerError, RegistryErrorCodes.DigestInvalid, e.Message);
        }
    }

    private OciLayout? OpenLayout()
    {
        try
        {
            return OciLayout.Open(LayoutPath);
        }
        catch (UnsupportedContentException)
        {
            return null;
        }
    }
}
