using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Outpost.Oci.Content;
using Outpost.Oci.Layout;

namespace Outpost.Image.Layouts;

/// <summary>
/// The userland of an Outpost OS image: Debian 12 minbase made by mmdebstrap from the Debian mirror apt uses, with
/// what a device needs (runc, iproute2, nftables, dnsmasq-base, ca-certificates, e2fsprogs, kmod, busybox-static for
/// the initramfs and udhcpc), imported as a one-layer OCI image. mmdebstrap is reproducible for a given
/// SOURCE_DATE_EPOCH and mirror state, so the tarball is cached under the digest of its recipe and made once.
/// </summary>
public static class DebianBase
{
    public const string Suite = "bookworm";
    public const long Epoch = 1700000000;

    public static readonly IReadOnlyList<string> Packages =
        ["runc", "iproute2", "nftables", "dnsmasq-base", "ca-certificates", "e2fsprogs", "kmod", "busybox-static"];

    // Documentation, manuals and translations are a third of minbase and nothing on a device reads them.
    private static readonly string[] Excluded = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*"];

    public static string DefaultCacheDirectory =>
        Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "outpost", "debian-base");

    /// <summary>Writes the base as an OCI layout at <paramref name="layoutPath"/>, running mmdebstrap only when the cache has no tarball for this recipe.</summary>
    public static async Task CreateAsync(string layoutPath, string? cacheDirectory, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var arguments = Arguments();
        var recipe = string.Join('\n', ["mmdebstrap", .. arguments, $"SOURCE_DATE_EPOCH={Epoch}"]);
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(recipe)))[..32];
        var cache = Directory.CreateDirectory(cacheDirectory ?? DefaultCacheDirectory).FullName;
        var tarball = Path.Combine(cache, key + ".tar");
        if (File.Exists(tarball))
        {
            progress?.Report($"Debian base: cached {tarball}");
        }
        else
        {
            progress?.Report($"Debian base: running mmdebstrap ({Suite} minbase + {string.Join(", ", Packages)}); about a minute");
            await RunMmdebstrapAsync(arguments, tarball, cancellationToken);
        }

        var layout = await OciLayout.CreateAsync(layoutPath, cancellationToken);
        Descriptor layer;
        await using (var file = File.OpenRead(tarball))
            layer = await layout.WriteBlobAsync(MediaTypes.OciLayer, file, cancellationToken);
        var config = new ImageConfig
        {
            Architecture = "amd64",
            Os = "linux",
            Config = new ContainerConfig { Labels = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["org.outpost.base.recipe"] = key } },
            RootFs = new RootFs { DiffIds = [layer.Digest] },
        };
        var configDescriptor = await layout.WriteBlobAsync(MediaTypes.OciConfig, OciJson.Serialize(config), cancellationToken);
        var manifest = new ImageManifest { MediaType = MediaTypes.OciManifest, Config = configDescriptor, Layers = [layer] };
        var manifestDescriptor = await layout.WriteBlobAsync(MediaTypes.OciManifest, OciJson.Serialize(manifest), cancellationToken);
        await layout.TagAsync("latest", manifestDescriptor with { Platform = new Platform { Os = "linux", Architecture = "amd64" } }, cancellationToken);
    }

    private static List<string> Arguments()
    {
        var arguments = new List<string> { "--variant=minbase", "--format=tar", "--include=" + string.Join(',', Packages) };
        foreach (var pattern in Excluded) arguments.Add($"--dpkgopt=path-exclude={pattern}");
        arguments.Add(Suite);
        return arguments;
    }

    private static async Task RunMmdebstrapAsync(IReadOnlyList<string> arguments, string tarball, CancellationToken cancellationToken)
    {
        var partial = Path.ChangeExtension(tarball, ".partial.tar");
        var start = new ProcessStartInfo("mmdebstrap") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        start.ArgumentList.Add(partial);
        start.Environment["SOURCE_DATE_EPOCH"] = Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new ImageBuildException("mmdebstrap is not installed; it makes the Debian userland of the device image. Install it with `apt-get install mmdebstrap` (the README's install step does).");
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
            {
                File.Delete(partial);
                var tail = string.Join('\n', ((await output) + (await error)).Split('\n').TakeLast(15));
                throw new ImageBuildException($"mmdebstrap failed (exit {process.ExitCode}); it needs root and the Debian mirror apt uses. Its last lines:\n{tail}");
            }
        }
        File.Move(partial, tarball, overwrite: true);
    }
}
