using System.Security.Cryptography;
using Outpost.Agent.Content;
using Outpost.Api.OsImages;
using Outpost.Disk.Slots;
using Outpost.Oci.Content;

namespace Outpost.Agent.BaseOs;

/// <summary>An OS image the content subsystem has loaded, opened and checked; ready for <see cref="SlotInstaller"/>.</summary>
public sealed record VerifiedOsImage(SlotImage Image, string RootfsSha256, long RootfsBytes);

/// <summary>An OS image that must not be installed; the message is the reason reported to the controller.</summary>
public sealed class OsImageRefusedException(string message) : Exception(message);

/// <summary>
/// Opens an OS image artifact (<see cref="OsImageArtifact"/>) from the content store and checks everything before a
/// byte reaches the disk: the layers it must have, the architecture, the version the controller asked for, the
/// signature with the key on the CONFIG partition, and the SHA-256 of each payload against what the signature vouches
/// for. The manifest's own digest was checked against the config's sha256 by the content pipeline.
/// </summary>
public sealed class OsImageSource(ContentStore store, string configDirectory)
{
    public const long MaxBootFileBytes = 256L * 1024 * 1024;

    public async Task<VerifiedOsImage> OpenAsync(string imageName, string wantedVersion, string cmdline, CancellationToken cancellationToken)
    {
        var layout = await store.GetLayoutAsync(cancellationToken).ConfigureAwait(false);
        var image = await layout.ResolveAsync(imageName, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!string.Equals(image.Config.Architecture, OsImageArtifact.Architecture, StringComparison.Ordinal))
            throw new OsImageRefusedException($"The OS image is for architecture '{image.Config.Architecture}', this device is {OsImageArtifact.Architecture}; push an {OsImageArtifact.Architecture} build.");
        var version = image.Config.Config?.Labels?.GetValueOrDefault(OsImageArtifact.VersionLabel) ?? "";
        if (version != wantedVersion)
            throw new OsImageRefusedException($"The OS image says it is version '{version}' but the controller asked for {wantedVersion}; EVE requires the two to match.");

        Descriptor Layer(string mediaType, string what) => image.Layers.SingleOrDefault(l => l.MediaType == mediaType)
            ?? throw new OsImageRefusedException($"The OS image has no {what} layer ({mediaType}); push it with `outpost os push`.");
        var rootfs = Layer(OsImageArtifact.RootfsMediaType, "rootfs");
        var kernelLayer = Layer(OsImageArtifact.KernelMediaType, "kernel");
        var initrdLayer = Layer(OsImageArtifact.InitrdMediaType, "initramfs");
        Descriptor signatureLayer;
        try { signatureLayer = Layer(OsImageArtifact.SignatureMediaType, "signature"); }
        catch (OsImageRefusedException)
        {
            throw new OsImageRefusedException("The OS image is not signed: it has no signature layer. Sign it with `outpost image sign` before pushing.");
        }
        foreach (var boot in new[] { kernelLayer, initrdLayer })
        {
            if (boot.Size > MaxBootFileBytes)
                throw new OsImageRefusedException($"The OS image's {boot.MediaType} is {boot.Size} bytes; at most {MaxBootFileBytes} fit the ESP.");
        }
        if (signatureLayer.Size > OsImageSigner.MaxSignatureFileBytes)
            throw new OsImageRefusedException($"The OS image signature is {signatureLayer.Size} bytes; at most {OsImageSigner.MaxSignatureFileBytes} are accepted.");

        var kernel = await layout.ReadBlobAsync(kernelLayer.Digest, cancellationToken).ConfigureAwait(false);
        var initrd = await layout.ReadBlobAsync(initrdLayer.Digest, cancellationToken).ConfigureAwait(false);
        var signatureBytes = await layout.ReadBlobAsync(signatureLayer.Digest, cancellationToken).ConfigureAwait(false);
        // Blob names are their sha256 and the puller checked them while streaming; hashing again here is cheap for the
        // boot files and keeps a tampered store from passing.
        var actual = new OsImageStatement(version, image.Config.Architecture, rootfs.Digest.Hex,
            Convert.ToHexStringLower(SHA256.HashData(kernel)), Convert.ToHexStringLower(SHA256.HashData(initrd)));
        VerifySignature(signatureBytes, actual);

        var rootfsPath = layout.GetBlobPath(rootfs.Digest);
        return new VerifiedOsImage(
            new SlotImage(version, () => new FileStream(rootfsPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan),
                new BootPayload(kernel, initrd), cmdline),
            rootfs.Digest.Hex, rootfs.Size);
    }

    /// <summary>The one signature check of both update paths: the signature must vouch for exactly these bytes, with a key CONFIG trusts.</summary>
    public void VerifySignature(ReadOnlySpan<byte> signatureBytes, OsImageStatement actual)
    {
        try
        {
            OsImageSigner.Verify(OsImageSigner.Parse(signatureBytes), actual, TrustedKeys());
        }
        catch (OsImageSignatureException e)
        {
            throw new OsImageRefusedException(e.Message);
        }
    }

    private IReadOnlyList<ECDsa> TrustedKeys()
    {
        var path = Path.Combine(configDirectory, OsImageArtifact.TrustedKeyFile);
        if (!File.Exists(path))
            return [];
        return OsImageSigner.LoadTrustedKeys(File.ReadAllText(path));
    }
}
