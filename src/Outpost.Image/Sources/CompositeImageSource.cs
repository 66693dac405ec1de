namespace Outpost.Image.Sources;

/// <summary>Routes <c>oci:</c> references to local layouts and everything else to a registry source (when one is configured).</summary>
public sealed class CompositeImageSource(IImageSource local, IImageSource? registry) : IImageSource
{
    public Task<SourceImage> GetAsync(string reference, string baseDirectory, CancellationToken cancellationToken)
    {
        if (LocalLayoutReference.IsLocal(reference)) return local.GetAsync(reference, baseDirectory, cancellationToken);
        if (registry is null)
            throw new MissingImageException(reference, "registry access is switched off for this build; use a local layout reference (oci:PATH[:TAG])");
        return registry.GetAsync(reference, baseDirectory, cancellationToken);
    }
}
