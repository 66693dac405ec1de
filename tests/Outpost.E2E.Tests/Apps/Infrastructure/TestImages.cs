using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Outpost.Image.Layouts;
using Outpost.Oci.Content;
using Outpost.Oci.Layout;

namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>
/// The images the app tests push: a busybox app that prints numbered greetings (built with OciLayoutBuilder, as the demo
/// does), and hostile or unfit ones written layer by layer, because a well-behaved builder cannot make them.
/// </summary>
public static class TestImages
{
    public const string Greeting = "hello from outpost";
    private const string Busybox = "/bin/busybox";
    private static readonly string[] Applets = ["sh", "echo", "sleep", "cat", "ls"];
    private static readonly DateTimeOffset Mtime = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The greeting loop: "hello from outpost 1", "… 2", every <paramref name="periodSeconds"/> s.</summary>
    public static async Task<string> HelloAsync(string layoutPath, string tag, int periodSeconds = 1, string architecture = "amd64")
    {
        // The tag goes into the layer, so every test image has layers of its own and is really downloaded.
        var builder = BusyboxBuilder().AddFile("etc/outpost-test-image", tag);
        builder.Architecture = architecture;
        builder.Entrypoint = ["/bin/sh", "-c", $"n=0; while true; do n=$((n+1)); echo \"{Greeting} $n\"; sleep {periodSeconds}; done"];
        await builder.WriteAsync(layoutPath, tag, CancellationToken.None);
        return tag;
    }

    /// <summary>An image index offering only <paramref name="architecture"/>, as a multi-arch image without ours would.</summary>
    public static async Task<string> ForeignIndexAsync(string layoutPath, string tag, string architecture)
    {
        var single = tag + "-single";
        await HelloAsync(layoutPath, single, architecture: architecture);
        var layout = OciLayout.Open(layoutPath);
        var manifest = (await layout.ReadIndexAsync()).Manifests.Single(m => m.RefName == single);
        var index = await layout.WriteBlobAsync(MediaTypes.OciIndex, OciJson.Serialize(new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests = [manifest with { Annotations = null, Platform = new Platform { Os = "linux", Architecture = architecture } }],
        }));
        await layout.TagAsync(tag, index);
        return tag;
    }

    /// <summary>Busybox, then a second layer holding <paramref name="hostile"/> entries, with <paramref name="entrypoint"/>.</summary>
    public static async Task<string> TwoLayerAsync(string layoutPath, string tag, Action<TarWriter> hostile, IReadOnlyList<string> entrypoint)
    {
        var layout = await OciLayout.CreateAsync(layoutPath);
        var layers = new List<(Descriptor Blob, OciDigest DiffId)>
        {
            await WriteLayerAsync(layout, tar =>
            {
                Add(tar, new PaxTarEntry(TarEntryType.Directory, "bin/") { Mode = (UnixFileMode)0b111_101_101 });
                Add(tar, new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox") { Mode = (UnixFileMode)0b111_101_101, DataStream = File.OpenRead(Busybox) });
                foreach (var applet in Applets)
                {
                    Add(tar, new PaxTarEntry(TarEntryType.SymbolicLink, $"bin/{applet}") { LinkName = "busybox" });
                }
            }),
            await WriteLayerAsync(layout, hostile),
        };
        var config = await layout.WriteBlobAsync(MediaTypes.OciConfig, OciJson.Serialize(new ImageConfig
        {
            Architecture = "amd64",
            Os = "linux",
            Config = new ContainerConfig { Entrypoint = entrypoint, Env = ["PATH=/bin"] },
            RootFs = new RootFs { DiffIds = layers.Select(l => l.DiffId).ToList() },
        }));
        var manifest = await layout.WriteBlobAsync(MediaTypes.OciManifest, OciJson.Serialize(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = config,
            Layers = layers.Select(l => l.Blob).ToList(),
        }));
        await layout.TagAsync(tag, manifest);
        return tag;
    }

    /// <summary>The busybox app plus <paramref name="layerCount"/> layers of random bytes (incompressible), for pulls that take a while.</summary>
    public static async Task<string> LargeAsync(string layoutPath, string tag, int layerCount, int bytesPerLayer)
    {
        var builder = BusyboxBuilder().AddFile("etc/outpost-test-image", tag);
        builder.Entrypoint = ["/bin/sh", "-c", $"n=0; while true; do n=$((n+1)); echo \"{Greeting} $n\"; sleep 1; done"];
        var random = new Random(tag.Length);
        for (var i = 0; i < layerCount; i++)
        {
            var data = new byte[bytesPerLayer];
            random.NextBytes(data);
            builder.AddFile($"data/blob{i}.bin", data);
        }

        await builder.WriteAsync(layoutPath, tag, CancellationToken.None);
        return tag;
    }

    public static void Add(TarWriter tar, PaxTarEntry entry)
    {
        entry.ModificationTime = Mtime;
        tar.WriteEntry(entry);
    }

    public static PaxTarEntry TextFile(string name, string text) =>
        new(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0b110_100_100, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) };

    private static OciLayoutBuilder BusyboxBuilder()
    {
        if (!File.Exists(Busybox))
        {
            throw new InvalidOperationException($"The app tests need {Busybox}: apt-get install -y busybox-static");
        }

        var builder = new OciLayoutBuilder().AddHostFile("bin/busybox", Busybox, 0b111_101_101);
        foreach (var applet in Applets)
        {
            builder.AddSymlink($"bin/{applet}", "busybox");
        }

        builder.AddDirectory("tmp", 0b111_111_111);
        builder.Env = ["PATH=/bin"];
        return builder;
    }

    private static async Task<(Descriptor Blob, OciDigest DiffId)> WriteLayerAsync(OciLayout layout, Action<TarWriter> fill)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            fill(writer);
        }

        var uncompressed = tar.ToArray();
        using var gz = new MemoryStream();
        using (var zip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            zip.Write(uncompressed);
        }

        return (await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, gz.ToArray()), OciDigest.Compute(uncompressed));
    }
}
