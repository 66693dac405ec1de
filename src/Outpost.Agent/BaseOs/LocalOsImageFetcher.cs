using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Outpost.Api.OsImages;
using Outpost.Disk.Slots;

namespace Outpost.Agent.BaseOs;

/// <summary>
/// Local mode's source of an OS image (EOS's os-update): a signed `outpost image build --out` folder on a web server.
/// It reads <see cref="OsImageChecksums.FileName"/>, downloads the four files it lists into STATE (resuming a cut
/// download with a Range request), checks each against its checksum and the signature with CONFIG's key, exactly as
/// <see cref="OsImageSource"/> checks an image from the controller, and gives the same <see cref="VerifiedOsImage"/>.
/// </summary>
public sealed class LocalOsImageFetcher(HttpClient http, string downloadDirectory, OsImageSource verifier)
{
    /// <summary>The update URL's checksums and the version its signature names (for `--check`: nothing big is fetched).</summary>
    public static async Task<(IReadOnlyDictionary<string, string> Sums, OsImageSignatureFile Signature)> ReadIndexAsync(HttpClient http, Uri baseUrl, CancellationToken ct)
    {
        IReadOnlyDictionary<string, string> sums;
        try
        {
            sums = OsImageChecksums.Parse(await GetSmallAsync(http, new Uri(baseUrl, OsImageChecksums.FileName), OsImageChecksums.MaxBytes, ct).ConfigureAwait(false));
        }
        catch (OsImageChecksumsException e)
        {
            throw new OsImageRefusedException($"{baseUrl}: {e.Message}");
        }

        var signatureBytes = await GetSmallAsync(http, new Uri(baseUrl, OsImageArtifact.SignatureFile), OsImageSigner.MaxSignatureFileBytes, ct).ConfigureAwait(false);
        if (Convert.ToHexStringLower(SHA256.HashData(signatureBytes)) != sums[OsImageArtifact.SignatureFile])
            throw new OsImageRefusedException($"{OsImageArtifact.SignatureFile} at {baseUrl} does not match its line in {OsImageChecksums.FileName}; sign the folder again with `outpost image sign`.");
        try
        {
            return (sums, OsImageSigner.Parse(signatureBytes));
        }
        catch (OsImageSignatureException e)
        {
            throw new OsImageRefusedException(e.Message);
        }
    }

    /// <param name="maxRootfsBytes">The other slot's size: a larger rootfs is refused before it fills STATE.</param>
    public async Task<VerifiedOsImage> FetchAsync(Uri baseUrl, string cmdline, long maxRootfsBytes, CancellationToken ct)
    {
        baseUrl = AsFolder(baseUrl);
        var (sums, signature) = await ReadIndexAsync(http, baseUrl, ct).ConfigureAwait(false);
        if (signature.Architecture != OsImageArtifact.Architecture)
            throw new OsImageRefusedException($"The OS image at {baseUrl} is for architecture '{signature.Architecture}', this device is {OsImageArtifact.Architecture}.");
        Directory.CreateDirectory(downloadDirectory);
        var rootfs = await DownloadAsync(baseUrl, OsImageArtifact.RootfsFile, sums, maxRootfsBytes, ct).ConfigureAwait(false);
        var kernel = await DownloadAsync(baseUrl, OsImageArtifact.KernelFile, sums, OsImageSource.MaxBootFileBytes, ct).ConfigureAwait(false);
        var initrd = await DownloadAsync(baseUrl, OsImageArtifact.InitrdFile, sums, OsImageSource.MaxBootFileBytes, ct).ConfigureAwait(false);
        var signatureBytes = await DownloadAsync(baseUrl, OsImageArtifact.SignatureFile, sums, OsImageSigner.MaxSignatureFileBytes, ct).ConfigureAwait(false);

        verifier.VerifySignature(await File.ReadAllBytesAsync(signatureBytes, ct).ConfigureAwait(false),
            new OsImageStatement(signature.Version, signature.Architecture, sums[OsImageArtifact.RootfsFile], sums[OsImageArtifact.KernelFile], sums[OsImageArtifact.InitrdFile]));
        var payload = new BootPayload(await File.ReadAllBytesAsync(kernel, ct).ConfigureAwait(false), await File.ReadAllBytesAsync(initrd, ct).ConfigureAwait(false));
        return new VerifiedOsImage(
            new SlotImage(signature.Version, () => new FileStream(rootfs, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan), payload, cmdline),
            sums[OsImageArtifact.RootfsFile], new FileInfo(rootfs).Length);
    }

    /// <summary>Relative names resolve inside the folder only when the URL ends in '/'.</summary>
    public static Uri AsFolder(Uri url) => url.AbsolutePath.EndsWith('/') ? url : new UriBuilder(url) { Path = url.AbsolutePath + "/" }.Uri;

    /// <summary>Removes the downloaded files once the slot holds them (or the request is over).</summary>
    public void Clean()
    {
        if (Directory.Exists(downloadDirectory))
            Directory.Delete(downloadDirectory, recursive: true);
    }

    /// <summary>Downloads one listed file to a fixed local name, resuming a partial one; returns its path once its sha256 matches.</summary>
    private async Task<string> DownloadAsync(Uri baseUrl, string name, IReadOnlyDictionary<string, string> sums, long maxBytes, CancellationToken ct)
    {
        // Local names come from our constant list, never from the server.
        var path = Path.Combine(downloadDirectory, name.Replace('/', '_'));
        var part = path + ".part";
        if (File.Exists(path) && await HashAsync(path, ct).ConfigureAwait(false) == sums[name])
            return path;
        File.Delete(path);

        var have = File.Exists(part) ? new FileInfo(part).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUrl, name));
        if (have > 0)
            request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            File.Delete(part);
            return await DownloadAsync(baseUrl, name, sums, maxBytes, ct).ConfigureAwait(false);
        }

        if (!response.IsSuccessStatusCode)
            throw new OsImageRefusedException($"GET {request.RequestUri} answered {(int)response.StatusCode} {response.ReasonPhrase}; check the update URL.");
        var resumed = response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.From == have;
        if (!resumed)
            have = 0;
        if (have + (response.Content.Headers.ContentLength ?? 0) > maxBytes)
            throw new OsImageRefusedException($"{name} at {baseUrl} is larger than {maxBytes} bytes, the most that fits; build a smaller image.");

        await using (var file = new FileStream(part, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        await using (var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false))
        {
            var buffer = new byte[1 << 20];
            int read;
            while ((read = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                if (file.Length + read > maxBytes)
                    throw new OsImageRefusedException($"{name} at {baseUrl} is larger than {maxBytes} bytes, the most that fits; build a smaller image.");
                await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
            }

            await file.FlushAsync(ct).ConfigureAwait(false);
        }

        if (await HashAsync(part, ct).ConfigureAwait(false) != sums[name])
        {
            File.Delete(part);
            throw new OsImageRefusedException($"{name} from {baseUrl} does not match its sha256 in {OsImageChecksums.FileName} (truncated or changed on the server); the download starts over next time.");
        }

        File.Move(part, path, overwrite: true);
        return path;
    }

    private static async Task<byte[]> GetSmallAsync(HttpClient http, Uri url, int maxBytes, CancellationToken ct)
    {
        using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new OsImageRefusedException($"GET {url} answered {(int)response.StatusCode} {response.ReasonPhrase}; the update URL must be a folder signed with `outpost image sign` (it holds {OsImageChecksums.FileName}).");
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var copy = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (copy.Length + read > maxBytes)
                throw new OsImageRefusedException($"{url} is larger than {maxBytes} bytes; it is not an OS image's {Path.GetFileName(url.AbsolutePath)}.");
            copy.Write(buffer, 0, read);
        }

        return copy.ToArray();
    }

    private static async Task<string> HashAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct).ConfigureAwait(false));
    }
}
