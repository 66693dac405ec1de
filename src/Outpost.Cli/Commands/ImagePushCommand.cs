using System.CommandLine;
using System.Net;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Transfer;

namespace Outpost.Cli.Commands;

/// <summary>
/// `outpost image push DIR[:TAG]|TAR REF`: copies an image from an OCI layout directory or an oci-archive /
/// docker-archive tar to a registry, so what `outpost image build` or `skopeo copy` made can be deployed as an app.
/// </summary>
internal static class ImagePushCommand
{
    private static readonly Option<bool> Insecure = new("--insecure") { Description = "Use plain HTTP for this registry (127.0.0.1 and localhost always are)." };
    private static readonly Option<string?> Username = new("--username") { Description = "Registry user name (basic or bearer-token auth)." };
    private static readonly Option<string?> PasswordFile = new("--password-file") { Description = "File holding the registry password or token (kept out of shell history)." };

    internal static Command Create()
    {
        var source = new Argument<string>("source") { Description = "OCI layout directory (DIR, or DIR:TAG to pick an image in it), or an oci-archive/docker-archive tar." };
        var target = new Argument<string>("reference") { Description = "Where to push, e.g. 127.0.0.1:5000/outpost/hello:1." };
        var command = new Command("push", "Push an OCI layout or image archive to a registry.") { source, target, Insecure, Username, PasswordFile };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var reference = ParseReference(parse.GetValue(target)!);
            await PushAsync(parse.GetValue(source)!, reference, await RegistryOptionsAsync(parse, reference, ct), Console.Out, ct);
            return 0;
        }));
        return command;
    }

    /// <summary>How to reach the registry: the options every push command takes.</summary>
    internal static Option[] RegistryOptions => [Insecure, Username, PasswordFile];

    internal static async Task<RegistryClientOptions> RegistryOptionsAsync(ParseResult parse, ImageReference reference, CancellationToken ct) => new()
    {
        InsecureRegistries = parse.GetValue(Insecure) ? new HashSet<string> { reference.Registry } : new HashSet<string>(),
        Credentials = await CredentialsAsync(reference.Registry, parse.GetValue(Username), parse.GetValue(PasswordFile), ct),
    };

    /// <summary>Pushes <paramref name="source"/> and prints one line per blob and a final digest line.</summary>
    internal static async Task PushAsync(string source, ImageReference reference, RegistryClientOptions options, TextWriter output, CancellationToken ct)
    {
        var resolved = ResolveSource(source);
        await PushWithProgressAsync(source, reference, options, output, async pusher => resolved.Layout is { } layout
            ? await pusher.PushAsync(layout, await ChooseRootAsync(layout, resolved.Tag, source, ct), reference, ct)
            : await pusher.PushArchiveAsync(resolved.ArchivePath!, reference, ct));
    }

    /// <summary>
    /// Runs <paramref name="push"/> with a pusher whose registry conversation is printed as progress lines, then the
    /// digest line; registry failures become what to check.
    /// </summary>
    internal static async Task<OciDigest> PushWithProgressAsync(
        string what, ImageReference reference, RegistryClientOptions options, TextWriter output, Func<ImagePusher, Task<OciDigest>> push)
    {
        using var http = new HttpClient(new PushProgressHandler(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30) }, output))
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        using var client = new RegistryClient(options, http);
        var pusher = new ImagePusher(client);
        output.WriteLine($"Pushing {what} to {reference} ...");
        try
        {
            var digest = await push(pusher);
            output.WriteLine($"Pushed {reference.Name}@{digest}");
            return digest;
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"cannot reach registry {reference.Registry}: {e.Message}. Is it running? For a plain-HTTP registry pass --insecure.");
        }
        catch (RegistryAuthException e)
        {
            throw new CliException($"{e.Message}. Check --username and --password-file.");
        }
        catch (OciException e)
        {
            throw new CliException(e.Message);
        }
    }

    internal static ImageReference ParseReference(string text)
    {
        try
        {
            return ImageReference.Parse(text);
        }
        catch (InvalidImageReferenceException e)
        {
            throw new CliException(e.Message);
        }
    }

    private static async Task<IReadOnlyDictionary<string, RegistryCredentials>> CredentialsAsync(string registry, string? username, string? passwordFile, CancellationToken ct)
    {
        if (username is null && passwordFile is null)
        {
            return new Dictionary<string, RegistryCredentials>();
        }

        if (username is null || passwordFile is null)
        {
            throw new CliException("Give both --username and --password-file, or neither.");
        }

        if (!File.Exists(passwordFile))
        {
            throw new CliException($"Password file '{passwordFile}' does not exist.");
        }

        var password = (await File.ReadAllTextAsync(passwordFile, ct)).Trim();
        return new Dictionary<string, RegistryCredentials> { [registry] = new RegistryCredentials(username, password) };
    }

    private sealed record PushSource(OciLayout? Layout, string? Tag, string? ArchivePath);

    /// <summary>DIR, DIR:TAG (only when DIR exists, since directory names may hold colons) or an archive file.</summary>
    private static PushSource ResolveSource(string source)
    {
        if (Directory.Exists(source))
        {
            return new PushSource(OpenLayout(source), null, null);
        }

        var colon = source.LastIndexOf(':');
        if (colon > 0 && Directory.Exists(source[..colon]))
        {
            return new PushSource(OpenLayout(source[..colon]), source[(colon + 1)..], null);
        }

        if (File.Exists(source))
        {
            return new PushSource(null, null, source);
        }

        throw new CliException($"'{source}' is neither an OCI layout directory (optionally DIR:TAG) nor an image archive file.");
    }

    private static OciLayout OpenLayout(string directory)
    {
        try
        {
            return OciLayout.Open(directory);
        }
        catch (UnsupportedContentException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>The index.json entry to push: the one named TAG, or the only one when no tag was given.</summary>
    private static async Task<string> ChooseRootAsync(OciLayout layout, string? tag, string source, CancellationToken ct)
    {
        if (tag is not null)
        {
            return tag;
        }

        var roots = (await layout.ReadIndexAsync(ct)).Manifests;
        return roots.Count switch
        {
            1 => roots[0].RefName ?? roots[0].Digest.ToString(),
            0 => throw new CliException($"OCI layout {source} holds no image."),
            _ => throw new CliException($"OCI layout {source} holds {roots.Count} images ({string.Join(", ", roots.Select(r => r.RefName ?? r.Digest.ToString()))}); pick one with {source}:NAME."),
        };
    }

    /// <summary>Turns the registry conversation into progress lines: which blobs were uploaded, which were already there.</summary>
    private sealed class PushProgressHandler(HttpMessageHandler inner, TextWriter output) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var length = request.Content?.Headers.ContentLength;
            var response = await base.SendAsync(request, cancellationToken);
            var path = request.RequestUri?.AbsolutePath ?? "";
            if (request.Method == HttpMethod.Head && response.StatusCode == HttpStatusCode.OK && path.Contains("/blobs/", StringComparison.Ordinal))
            {
                output.WriteLine($"  exists   {Short(path[(path.LastIndexOf('/') + 1)..])}");
            }
            else if (request.Method == HttpMethod.Put && response.IsSuccessStatusCode && request.RequestUri!.Query.Contains("digest=", StringComparison.Ordinal))
            {
                var digest = Uri.UnescapeDataString(request.RequestUri.Query.Split("digest=")[1].Split('&')[0]);
                output.WriteLine($"  pushed   {Short(digest)} ({Size(length ?? 0)})");
            }
            else if (request.Method == HttpMethod.Put && response.IsSuccessStatusCode && path.Contains("/manifests/", StringComparison.Ordinal))
            {
                output.WriteLine($"  manifest {Short(path[(path.LastIndexOf('/') + 1)..])}");
            }

            return response;
        }

        private static string Short(string digest) => digest.Length > 19 ? digest[..19] : digest;

        private static string Size(long bytes) => bytes >= 1 << 20 ? $"{bytes / (1024.0 * 1024):0.0} MiB" : $"{bytes / 1024.0:0.0} KiB";
    }
}
