using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;

namespace Outpost.Image.Sources;

/// <summary>Reads <c>oci:PATH[:TAG]</c> images from local OCI layouts, for offline builds.</summary>
public sealed class OciLayoutImageSource(Platform? platform = null) : IImageSource
{
    public async Task<SourceImage> GetAsync(string reference, string baseDirectory, CancellationToken cancellationToken)
    {
        var local = LocalLayoutReference.Parse(reference, baseDirectory);
        if (!Directory.Exists(local.LayoutPath))
            throw new MissingImageException(reference, $"directory {local.LayoutPath} does not exist");
        try
        {
            var layout = OciLayout.Open(local.LayoutPath);
            var resolved = await layout.ResolveAsync(local.Tag, platform ?? Platform.LinuxAmd64, cancellationToken);
            var layers = resolved.Layers.Select(d => new SourceLayer(d.Digest.ToString(), d.MediaType, d.Size,
                _ => Task.FromResult(OpenVerified(layout, d)))).ToList();
            return new SourceImage(reference, resolved.ManifestDescriptor.Digest.ToString(), resolved.Config, layers);
        }
        catch (OciException e) when (e is Outpost.Oci.Errors.ImageNotFoundException or UnsupportedContentException)
        {
            throw new MissingImageException(reference, e.Message);
        }
    }

    private static Stream OpenVerified(OciLayout layout, Descriptor descriptor)
    {
        if (!layout.HasBlob(descriptor.Digest))
            throw new MissingImageException(layout.Path, $"layer blob {descriptor.Digest} is missing from the layout");
        return layout.OpenBlob(descriptor.Digest);
    }
}
