using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Transfer;

namespace Outpost.Image.Sources;

/// <summary>
/// Pulls registry images (verified by digest) into a local cache layout and reads them from there, so a
/// rebuild with warm inputs makes no network request for blobs it already has.
/// </summary>
public sealed class RegistryImageSource(string cacheDirectory, RegistryClient client, Platform? platform = null) : IImageSource
{
    public async Task<SourceImage> GetAsync(string reference, string baseDirectory, CancellationToken cancellationToken)
    {
        ImageReference parsed;
        try { parsed = ImageReference.Parse(reference); }
        catch (InvalidImageReferenceException e) { throw new MissingImageException(reference, e.Message); }

        var layout = await OciLayout.CreateAsync(cacheDirectory, cancellationToken);
        ResolvedImage resolved;
        try
        {
            resolved = await new ImagePuller(client).PullAsync(parsed, layout, platform ?? Platform.LinuxAmd64, progress: null, cancellationToken);
        }
        catch (OciException e)
        {
            throw new MissingImageException(reference, e.Message);
        }
        catch (HttpRequestException e)
        {
            throw new MissingImageException(reference, $"the registry {parsed.Registry} could not be reached ({e.Message}); for offline builds use a local layout (oci:PATH[:TAG])");
        }
        var layers = resolved.Layers.Select(d => new SourceLayer(d.Digest.ToString(), d.MediaType, d.Size,
            _ => Task.FromResult(layout.OpenBlob(d.Digest)))).ToList();
        return new SourceImage(reference, resolved.ManifestDescriptor.Digest.ToString(), resolved.Config, layers);
    }
}
