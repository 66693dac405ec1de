using Outpost.Oci.Content;
using Outpost.Oci.Extraction;
using Outpost.Oci.Layout;
using Outpost.Oci.Transfer;

namespace Outpost.Agent.Content;

/// <summary>
/// What the content subsystem offers the others: unpacking a loaded image (named by
/// <see cref="ContentStatus.ImageName"/>) into a directory. The store itself (an OCI layout) stays the content
/// subsystem's own; nobody else touches its files.
/// </summary>
public interface IContentStore
{
    /// <summary>Unpacks <paramref name="imageName"/> into <paramref name="target"/> under <paramref name="policy"/>; returns its config and size.</summary>
    Task<(ImageConfig Config, long Bytes)> UnpackAsync(string imageName, string target, ExtractionPolicy policy, CancellationToken cancellationToken);
}

/// <summary>The device's content store: an OCI layout at STATE/content, opened once.</summary>
public sealed class ContentStore(string directory) : IContentStore
{
    private readonly SemaphoreSlim _open = new(1, 1);
    private OciLayout? _layout;

    public string Directory => directory;

    public async Task<OciLayout> GetLayoutAsync(CancellationToken cancellationToken)
    {
        if (_layout is { } open)
        {
            return open;
        }

        await _open.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _layout ??= await OciLayout.CreateAsync(directory, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _open.Release();
        }
    }

    public async Task<(ImageConfig Config, long Bytes)> UnpackAsync(string imageName, string target, ExtractionPolicy policy, CancellationToken cancellationToken)
    {
        var layout = await GetLayoutAsync(cancellationToken).ConfigureAwait(false);
        var image = await layout.ResolveAsync(imageName, cancellationToken: cancellationToken).ConfigureAwait(false);
        var bytes = await ImageUnpacker.UnpackAsync(layout, image, target, policy, cancellationToken).ConfigureAwait(false);
        return (image.Config, bytes);
    }
}
