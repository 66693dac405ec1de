using Outpost.Oci.Artifacts;
using Outpost.Oci.Content;
using Outpost.Oci.Extraction;
using Outpost.Oci.Layout;
using Outpost.Oci.Transfer;

namespace Outpost.Agent.Content;

/// <summary>
/// What the content subsystem offers the others: unpacking a loaded image (named by
/// <see cref="ContentStatus.ImageName"/>) into a directory, or exporting a loaded disk artifact as a file. The store itself (an OCI layout) stays the content
/// subsystem's own; nobody else touches its files.
/// </summary>
public interface IContentStore
{
    /// <summary>Unpacks <paramref name="imageName"/> into <paramref name="target"/> under <paramref name="policy"/>; returns its config and size.</summary>
    Task<(ImageConfig Config, long Bytes)> UnpackAsync(string imageName, string target, ExtractionPolicy policy, CancellationToken cancellationToken);

    /// <summary>
    /// Makes the disk of the disk artifact <paramref name="imageName"/> the read-only file <paramref name="target"/>
    /// (mode 0444): a hard link to the store's blob, or a verified copy when the link fails. Volumes of one artifact
    /// thus share its bytes; it is the base every app's overlay sits on, so nobody may write it.
    /// </summary>
    /// <param name="maxBytes">The largest disk accepted (the volume's maxsizebytes); 0 = no limit.</param>
    /// <exception cref="Outpost.Oci.Errors.QuotaExceededException">The disk is larger than <paramref name="maxBytes"/>.</exception>
    /// <exception cref="Outpost.Oci.Errors.UnsupportedContentException">The image holds no disk, or its blob is missing.</exception>
    Task<ExportedDisk> ExportDiskAsync(string imageName, string target, long maxBytes, CancellationToken cancellationToken);
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

    public async Task<ExportedDisk> ExportDiskAsync(string imageName, string target, long maxBytes, CancellationToken cancellationToken)
    {
        var layout = await GetLayoutAsync(cancellationToken).ConfigureAwait(false);
        return await DiskArtifact.ExportAsync(layout, imageName, target, maxBytes, cancellationToken).ConfigureAwait(false);
    }
}
