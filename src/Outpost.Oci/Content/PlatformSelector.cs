using Outpost.Oci.Errors;

namespace Outpost.Oci.Content;

/// <summary>Chooses the manifest for a platform from an image index.</summary>
public static class PlatformSelector
{
    /// <summary>Returns the first entry whose platform satisfies <paramref name="requested"/>, else throws <see cref="PlatformNotFoundException"/>.</summary>
    public static Descriptor Select(ImageIndex index, Platform requested, string imageName)
    {
        foreach (var entry in index.Manifests)
        {
            if (entry.Platform is { } offered && requested.IsSatisfiedBy(offered))
                return entry;
        }
        var available = index.Manifests
            .Where(m => m.Platform is not null && m.Platform.Os != "unknown")
            .Select(m => m.Platform!.ToString())
            .Distinct()
            .ToList();
        throw new PlatformNotFoundException(imageName, requested.ToString(), available);
    }
}
