using System.Security.Cryptography;
using Outpost.Oci.Content;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;

namespace Outpost.Oci.Tests.Infrastructure;

/// <summary>An OCI image built in memory from tar layers: config, gzip layers and manifest, ready to push or store.</summary>
public sealed class TestImage
{
    private TestImage(byte[] config, IReadOnlyList<(Descriptor Descriptor, byte[] Bytes)> layers, byte[] manifest, Platform platform)
    {
        Config = config;
        Layers = layers;
        Manifest = manifest;
        Platform = platform;
        ManifestDescriptor = Descriptor.For(MediaTypes.OciManifest, manifest) with { Platform = platform };
    }

    public byte[] Config { get; }
    public IReadOnlyList<(Descriptor Descriptor, byte[] Bytes)> Layers { get; }
    public byte[] Manifest { get; }
    public Platform Platform { get; }
    public Descriptor ManifestDescriptor { get; }
    public Descriptor ConfigDescriptor => Descriptor.For(MediaTypes.OciConfig, Config);

    /// <summary>Builds an image from uncompressed tars (each gzip-compressed as a layer).</summary>
    public static TestImage Create(IEnumerable<byte[]> tars, Platform? platform = null, ContainerConfig? run = null, bool compress = true)
    {
        platform ??= Platform.LinuxAmd64;
        var tarList = tars.ToList();
        var config = OciJson.Serialize(new ImageConfig
        {
            Architecture = platform.Architecture,
            Os = platform.Os,
            Variant = platform.Variant,
            Config = run ?? new ContainerConfig { Cmd = ["/bin/sh"], Env = ["PATH=/usr/bin:/bin"] },
            RootFs = new RootFs { DiffIds = tarList.Select(t => OciDigest.Compute(t)).ToList() },
        });
        var layers = tarList
            .Select(t => compress ? (Descriptor.For(MediaTypes.OciLayerGzip, LayerBuilder.Gzip(t)), LayerBuilder.Gzip(t)) : (Descriptor.For(MediaTypes.OciLayer, t), t))
            .ToList();
        var manifest = OciJson.Serialize(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = Descriptor.For(MediaTypes.OciConfig, config),
            Layers = layers.Select(l => l.Item1).ToList(),
        });
        return new TestImage(config, layers, manifest, platform);
    }

    /// <summary>A one-layer image whose layer holds <paramref name="payloadBytes"/> of random data.</summary>
    public static TestImage WithRandomPayload(int payloadBytes, Platform? platform = null) =>
        Create([new LayerBuilder().Dir("data").File("data/payload.bin", RandomNumberGenerator.GetBytes(payloadBytes)).Tar()], platform, compress: false);

    /// <summary>Uploads blobs and the manifest with our client.</summary>
    public async Task<OciDigest> PushAsync(RegistryClient client, ImageReference target)
    {
        await PushBlobsAsync(client, target);
        return await client.PutManifestAsync(target, MediaTypes.OciManifest, Manifest);
    }

    public async Task PushBlobsAsync(RegistryClient client, ImageReference target)
    {
        await client.UploadBlobAsync(target, ConfigDescriptor, Config);
        foreach (var (descriptor, bytes) in Layers)
            await client.UploadBlobAsync(target, descriptor, bytes);
    }

    /// <summary>Stores the image in a layout under <paramref name="name"/>.</summary>
    public async Task WriteToLayoutAsync(OciLayout layout, string name)
    {
        await layout.WriteBlobAsync(MediaTypes.OciConfig, Config);
        foreach (var (descriptor, bytes) in Layers)
            await layout.WriteBlobAsync(descriptor.MediaType, bytes);
        await layout.WriteBlobAsync(MediaTypes.OciManifest, Manifest);
        await layout.TagAsync(name, ManifestDescriptor);
    }

    /// <summary>An index document listing the given images' manifests with their platforms.</summary>
    public static byte[] Index(params TestImage[] images) =>
        OciJson.Serialize(new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = images.Select(i => i.ManifestDescriptor).ToList() });
}
