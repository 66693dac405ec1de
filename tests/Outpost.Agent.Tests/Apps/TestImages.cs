using System.Formats.Tar;
using System.IO.Compression;
using Outpost.Oci.Content;
using Outpost.Oci.References;
using Outpost.Oci.Registry;

namespace Outpost.Agent.Tests.Apps;

/// <summary>Images built in the test from the host's static busybox and pushed with Outpost.Oci.</summary>
public static class TestImages
{
    private static readonly string[] Applets = ["sh", "echo", "sleep", "cat", "ls", "touch", "test", "env", "true", "false"];

    /// <summary>A busybox rootfs layer: /bin/busybox, applet symlinks and the usual empty directories.</summary>
    public static byte[] BusyboxLayer()
    {
        const string Busybox = "/bin/busybox";
        Assert.True(File.Exists(Busybox), $"These tests need a static busybox at {Busybox}: apt-get install busybox-static.");
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var dir in (string[])["bin/", "etc/", "tmp/", "data/", "proc/", "sys/", "dev/"])
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir) { Mode = (UnixFileMode)0b111_101_101 });
            }

            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox")
            {
                Mode = (UnixFileMode)0b111_101_101,
                DataStream = new MemoryStream(File.ReadAllBytes(Busybox)),
            });
            foreach (var applet in Applets)
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/" + applet) { LinkName = "busybox" });
            }

            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "etc/passwd")
            {
                Mode = (UnixFileMode)0b110_100_100,
                DataStream = new MemoryStream("root:x:0:0:root:/root:/bin/sh\n"u8.ToArray()),
            });
        }

        return tar.ToArray();
    }

    /// <summary>A layer whose one entry climbs out of the root with '../'.</summary>
    public static byte[] EscapingLayer()
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "../escaped.txt") { DataStream = new MemoryStream("x"u8.ToArray()) });
        }

        return tar.ToArray();
    }

    /// <summary>Pushes a gzip-layered image and returns its manifest digest.</summary>
    public static async Task<OciDigest> PushAsync(
        RegistryClient client, string reference, IReadOnlyList<byte[]> tars, IReadOnlyList<string> cmd, Platform? platform = null)
    {
        var target = ImageReference.Parse(reference);
        platform ??= Outpost.Agent.Content.HostPlatform.Current;
        var config = OciJson.Serialize(new ImageConfig
        {
            Architecture = platform.Architecture,
            Os = platform.Os,
            Config = new ContainerConfig { Cmd = cmd, Env = ["PATH=/bin"] },
            RootFs = new RootFs { DiffIds = tars.Select(t => OciDigest.Compute(t)).ToList() },
        });
        var configDescriptor = Descriptor.For(MediaTypes.OciConfig, config);
        await client.UploadBlobAsync(target, configDescriptor, config);
        var layers = new List<Descriptor>();
        foreach (var tar in tars)
        {
            var gz = Gzip(tar);
            var descriptor = Descriptor.For(MediaTypes.OciLayerGzip, gz);
            await client.UploadBlobAsync(target, descriptor, gz);
            layers.Add(descriptor);
        }

        var manifest = OciJson.Serialize(new ImageManifest { MediaType = MediaTypes.OciManifest, Config = configDescriptor, Layers = layers });
        return await client.PutManifestAsync(target, MediaTypes.OciManifest, manifest);
    }

    /// <summary>Pushes an index that offers only linux/arm64 (of a busybox-like image) under <paramref name="reference"/>.</summary>
    public static async Task PushArm64OnlyIndexAsync(RegistryClient client, string reference)
    {
        var arm = new Platform { Os = "linux", Architecture = "arm64" };
        var armRef = ImageReference.Parse(reference + "-arm64");
        var armDigest = await PushAsync(client, armRef.ToString(), [EmptyTar()], ["/bin/sh"], arm);
        var manifest = await client.GetManifestAsync(armRef);
        var index = OciJson.Serialize(new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests = [new Descriptor { MediaType = MediaTypes.OciManifest, Digest = armDigest, Size = manifest.Content.Length, Platform = arm }],
        });
        await client.PutManifestAsync(ImageReference.Parse(reference), MediaTypes.OciIndex, index);
    }

    private static byte[] EmptyTar()
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "etc/"));
        }

        return tar.ToArray();
    }

    public static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return buffer.ToArray();
    }
}
