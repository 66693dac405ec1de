using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Outpost.Api.Certificates;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Apps;

/// <summary>
/// A VM disk image deployed by its http(s) URL: the datastore it lies under, its path relative to that datastore
/// (EVE's ContentTree URL), and its format. A device verifies such a file only against the sha256 the controller
/// sends, so <see cref="MeasureAsync"/> fetches the file once to learn its hash and size.
/// </summary>
internal sealed record HttpDiskImage(string Url, DatastoreRecord Datastore, string RelativeUrl, string DiskFormat)
{
    /// <summary>The largest disk the controller reads to hash it (the device has its own limit too).</summary>
    public const long MaxBytes = 64L << 30;

    public static bool IsUrl(string image) =>
        image.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || image.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Finds the datastore (<paramref name="named"/>, else the one whose URL is the longest prefix of <paramref name="url"/>)
    /// and the format (<paramref name="givenFormat"/>, else the file's extension).
    /// </summary>
    /// <exception cref="AppRequestException">No such datastore, or the format cannot be told.</exception>
    public static HttpDiskImage Locate(string url, string? named, IReadOnlyList<DatastoreRecord> datastores, string? givenFormat)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Authority.Length == 0)
        {
            throw new AppRequestException($"'{url}' is not a URL; give the disk image as http(s)://HOST[:PORT]/PATH.");
        }

        DatastoreRecord datastore;
        if (named is not null)
        {
            datastore = datastores.FirstOrDefault(d => d.Name == named) ?? throw new AppRequestException($"No datastore named '{named}'. Add it with `outpost datastore add`.");
            if (!IsPrefix(datastore, url))
            {
                throw new AppRequestException($"{url} is not below datastore '{named}' ({datastore.Url}); give a URL that starts with the datastore's URL, or another --datastore.");
            }
        }
        else
        {
            datastore = datastores.Where(d => IsPrefix(d, url)).MaxBy(d => d.Url.TrimEnd('/').Length)
                ?? throw new AppRequestException(
                    $"No datastore's URL is a prefix of {url}. Add the web server as one first: `outpost datastore add --name NAME --url {uri.GetLeftPart(UriPartial.Authority)}/PATH`.");
        }

        var relative = url[(datastore.Url.TrimEnd('/').Length + 1)..];
        return new HttpDiskImage(url, datastore, relative, givenFormat ?? FormatOf(uri));
    }

    /// <summary>
    /// Streams the file once (never whole in memory) and returns its SHA-256 (lower-case hex) and size.
    /// </summary>
    /// <exception cref="AppRequestException">The server cannot be reached, answers an error, or the file is over <paramref name="maxBytes"/>.</exception>
    public async Task<(string Sha256, long Size)> MeasureAsync(long maxBytes, CancellationToken ct)
    {
        using var http = CreateClient(Datastore.CertificatePem);
        using var request = new HttpRequestMessage(HttpMethod.Get, Url);
        // EVE's rule for HTTP datastores, as the device follows it: the user name is the auth scheme, the password its credentials.
        if (Datastore.Username is { Length: > 0 } scheme)
        {
            request.Headers.TryAddWithoutValidation("Authorization", $"{scheme} {Datastore.Password}".TrimEnd());
        }

        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new AppRequestException($"{Url} answered {(int)response.StatusCode} {response.ReasonPhrase}; the controller reads the disk once to hash it. Check the URL.");
            }

            if (response.Content.Headers.ContentLength > maxBytes)
            {
                throw TooBig(maxBytes);
            }

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            var buffer = new byte[1 << 20];
            long size = 0;
            int read;
            while ((read = await body.ReadAsync(buffer, ct)) > 0)
            {
                size += read;
                if (size > maxBytes)
                {
                    throw TooBig(maxBytes);
                }

                hash.AppendData(buffer, 0, read);
            }

            return (Convert.ToHexStringLower(hash.GetHashAndReset()), size);
        }
        catch (Exception e) when (e is HttpRequestException or HttpIOException)
        {
            throw new AppRequestException($"{Url} cannot be read ({e.Message}); the controller reads the disk once to hash it, so it must reach the datastore too.");
        }
    }

    private AppRequestException TooBig(long maxBytes) =>
        new($"{Url} is over {maxBytes} bytes, the largest disk image the controller hashes; use a smaller (e.g. qcow2-compressed) image.");

    private static bool IsPrefix(DatastoreRecord datastore, string url) =>
        IsUrl(datastore.Url) && url.StartsWith(datastore.Url.TrimEnd('/') + "/", StringComparison.OrdinalIgnoreCase);

    private static string FormatOf(Uri uri) => Path.GetExtension(uri.AbsolutePath).ToLowerInvariant() switch
    {
        ".qcow2" => "qcow2",
        ".img" or ".raw" => "raw",
        ".iso" => "iso",
        var other => throw new AppRequestException(
            $"The disk format of {uri.GetLeftPart(UriPartial.Path)} cannot be told from its extension ('{other}'); give --disk-format qcow2, raw or iso."),
    };

    /// <summary>System trust, plus the datastore's own CA when it has one (as the device trusts it).</summary>
    private static HttpClient CreateClient(string? certificatePem)
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(15), AllowAutoRedirect = true };
        if (certificatePem is { Length: > 0 })
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPem(certificatePem);
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    errors == SslPolicyErrors.None || roots.Any(root => PrivateRootTrust.Accepts(certificate, errors, root)),
            };
        }

        return new HttpClient(handler) { Timeout = TimeSpan.FromMinutes(30) };
    }
}
