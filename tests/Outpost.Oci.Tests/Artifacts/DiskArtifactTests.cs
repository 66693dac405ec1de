using System.Security.Cryptography;
using Outpost.Oci.Artifacts;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Tests.Infrastructure;
using Outpost.Oci.Transfer;

namespace Outpost.Oci.Tests.Artifacts;

/// <summary>VM disks as LF Edge ECI artifacts: written into a layout, pushed to Debian's docker-registry, pulled back and exported.</summary>
public sealed class DiskArtifactTests(RegistryFixture registry) : IClassFixture<RegistryFixture>, IDisposable
{
    private readonly TempDirectory _temp = new("disk-artifact");
    private readonly RegistryClient _client = new(new RegistryClientOptions { InitialRetryDelay = TimeSpan.FromMilliseconds(10) });

    public void Dispose()
    {
        _client.Dispose();
        _temp.Dispose();
    }

    private ImageReference Ref(string repoAndTag) => ImageReference.Parse($"{registry.Server.Host}/{repoAndTag}");

    [Theory]
    [InlineData("raw", DiskArtifact.RawLayerMediaType)]
    [InlineData("QCOW2", DiskArtifact.Qcow2LayerMediaType)]
    [InlineData("iso", DiskArtifact.IsoLayerMediaType)]
    public void LayerMediaType_names_the_eci_disk_type(string format, string expected) =>
        Assert.Equal(expected, DiskArtifact.LayerMediaType(format));

    [Fact]
    public void LayerMediaType_refuses_other_formats_and_says_how_to_convert()
    {
        var e = Assert.Throws<UnsupportedContentException>(() => DiskArtifact.LayerMediaType("vmdk"));
        Assert.Contains("qemu-img convert", e.Message);
    }

    [Fact]
    public void FindDiskLayer_prefers_the_root_disk_then_any_disk_then_a_lone_layer()
    {
        var tar = Layer(MediaTypes.OciLayerGzip, "tar");
        var extra = Layer(DiskArtifact.RawLayerMediaType, "extra");
        var root = Layer(DiskArtifact.Qcow2LayerMediaType, "root") with
        {
            Annotations = new Dictionary<string, string> { [DiskArtifact.RoleAnnotation] = DiskArtifact.RootDiskRole },
        };
        // edge-containers' legacy mode: a standard media type, the ECI one in an annotation.
        var legacy = Layer(MediaTypes.OciLayer, "legacy") with
        {
            Annotations = new Dictionary<string, string> { [DiskArtifact.MediaTypeAnnotation] = DiskArtifact.IsoLayerMediaType },
        };
        var octets = Layer("application/octet-stream", "octets");

        Assert.Equal(root, DiskArtifact.FindDiskLayer(Manifest(tar, extra, root)));
        Assert.Equal(extra, DiskArtifact.FindDiskLayer(Manifest(tar, extra)));
        Assert.Equal(legacy, DiskArtifact.FindDiskLayer(Manifest(tar, legacy)));
        Assert.Equal("iso", DiskArtifact.FormatOf(legacy));
        Assert.Equal(octets, DiskArtifact.FindDiskLayer(Manifest(octets)));
        Assert.Null(DiskArtifact.FindDiskLayer(Manifest(tar, octets)));
        Assert.Null(DiskArtifact.FormatOf(octets));
    }

    [Fact]
    public async Task Qcow2_artifact_pushes_pulls_and_exports_as_a_read_only_hard_link_of_the_blob()
    {
        var disk = _temp.Sub("vm.qcow2");
        await ExternalTool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", disk, "16M");
        var source = await OciLayout.CreateAsync(_temp.Sub("source"));
        var written = await DiskArtifact.WriteAsync(source, disk, "qcow2", "vm");
        var reference = Ref("outpost/disk:qcow2");

        var pushed = await new ImagePusher(_client).PushAsync(source, "vm", reference);
        var store = await OciLayout.CreateAsync(_temp.Sub("store"));
        var pulled = await new ImagePuller(_client).PullAsync(reference, store);

        Assert.Equal(written.Digest, pushed);
        Assert.Equal(pushed, pulled.ManifestDescriptor.Digest);
        Assert.Equal(DiskArtifact.ConfigMediaType, pulled.Manifest.Config.MediaType);
        var layer = Assert.Single(pulled.Manifest.Layers);
        Assert.Equal(DiskArtifact.Qcow2LayerMediaType, layer.MediaType);
        Assert.Equal(DiskArtifact.RootDiskRole, layer.Annotations![DiskArtifact.RoleAnnotation]);
        Assert.Equal(await File.ReadAllBytesAsync(disk), await File.ReadAllBytesAsync(store.GetBlobPath(layer.Digest)));
        // A disk artifact declares no platform: its root must not claim an empty one.
        Assert.Null(Assert.Single((await store.ReadIndexAsync()).Manifests).Platform);

        var target = _temp.Sub("volume.qcow2");
        var exported = await DiskArtifact.ExportAsync(store, reference.ToString(), target, maxBytes: 0);

        Assert.True(exported.HardLinked, "the blob and the exported disk are on one filesystem; expected a hard link, got a copy");
        Assert.Equal("qcow2", exported.Format);
        Assert.Equal(layer.Digest, exported.Layer.Digest);
        Assert.Equal(await Inode(store.GetBlobPath(layer.Digest)), await Inode(target));
        Assert.Equal(DiskArtifact.ExportedFileMode, File.GetUnixFileMode(target));
    }

    [Fact]
    public async Task Artifact_with_a_standard_config_and_a_raw_layer_pulls_without_container_checks()
    {
        // What another tool might push: an OCI image config of {} (no diff ids) and one raw disk layer.
        var reference = Ref("outpost/disk:std-config");
        var config = "{}"u8.ToArray();
        var disk = RandomNumberGenerator.GetBytes(64 * 1024);
        var configDescriptor = Descriptor.For(MediaTypes.OciConfig, config);
        var layer = Descriptor.For(DiskArtifact.RawLayerMediaType, disk);
        await _client.UploadBlobAsync(reference, configDescriptor, config);
        await _client.UploadBlobAsync(reference, layer, disk);
        var manifest = OciJson.Serialize(new ImageManifest { MediaType = MediaTypes.OciManifest, Config = configDescriptor, Layers = [layer] });
        await _client.PutManifestAsync(reference, MediaTypes.OciManifest, manifest);
        var store = await OciLayout.CreateAsync(_temp.Sub("store"));

        var pulled = await new ImagePuller(_client).PullAsync(reference, store);
        var exported = await DiskArtifact.ExportAsync(store, pulled.Name, _temp.Sub("disk.raw"), maxBytes: disk.Length);

        Assert.Equal(disk, await File.ReadAllBytesAsync(exported.Path));
        Assert.Equal("raw", exported.Format);
    }

    [Fact]
    public async Task Export_refuses_a_disk_over_the_limit_and_a_container_image()
    {
        var disk = _temp.Sub("big.raw");
        await File.WriteAllBytesAsync(disk, new byte[4096]);
        var store = await OciLayout.CreateAsync(_temp.Sub("store"));
        await DiskArtifact.WriteAsync(store, disk, "raw", "big");
        var container = TestImage.Create([new LayerBuilder().File("etc/motd", "hi\n").Tar()]);
        await container.WriteToLayoutAsync(store, "container");

        var quota = await Assert.ThrowsAsync<QuotaExceededException>(() => DiskArtifact.ExportAsync(store, "big", _temp.Sub("a.raw"), maxBytes: 4095));
        var notDisk = await Assert.ThrowsAsync<UnsupportedContentException>(() => DiskArtifact.ExportAsync(store, "container", _temp.Sub("b.raw"), maxBytes: 0));

        Assert.Equal(4096, quota.AttemptedBytes);
        Assert.Contains("container image", notDisk.Message);
        Assert.False(File.Exists(_temp.Sub("a.raw")));
        Assert.False(File.Exists(_temp.Sub("b.raw")));
    }

    [Fact]
    public async Task WriteAsync_refuses_a_file_that_is_not_the_format_it_is_given_as()
    {
        var raw = _temp.Sub("plain.img");
        await File.WriteAllBytesAsync(raw, new byte[64 * 1024]);
        var layout = await OciLayout.CreateAsync(_temp.Sub("layout"));

        var qcow2 = await Assert.ThrowsAsync<UnsupportedContentException>(() => DiskArtifact.WriteAsync(layout, raw, "qcow2", "x"));
        var iso = await Assert.ThrowsAsync<UnsupportedContentException>(() => DiskArtifact.WriteAsync(layout, raw, "iso", "x"));

        Assert.Contains("not a qcow2 image", qcow2.Message);
        Assert.Contains("not an ISO 9660 image", iso.Message);
        Assert.Empty((await layout.ReadIndexAsync()).Manifests);
    }

    [Fact]
    public async Task AdoptAsync_makes_a_written_file_the_same_artifact_WriteAsync_makes_and_exports_it()
    {
        var disk = _temp.Sub("vm.raw");
        await File.WriteAllBytesAsync(disk, RandomNumberGenerator.GetBytes(64 * 1024));
        var written = await OciLayout.CreateAsync(_temp.Sub("written"));
        var expected = await DiskArtifact.WriteAsync(written, disk, "raw", "disk");
        var adopting = await OciLayout.CreateAsync(_temp.Sub("adopting"));
        var temp = adopting.NewTempBlobPath();
        File.Copy(disk, temp);
        var digest = OciDigest.Compute(await File.ReadAllBytesAsync(disk));

        var adopted = await DiskArtifact.AdoptAsync(adopting, temp, digest, "raw", "vm.raw");
        await adopting.TagAsync("disk", adopted);
        var exported = await DiskArtifact.ExportAsync(adopting, "disk", _temp.Sub("out.raw"), maxBytes: 0);

        Assert.Equal(expected, adopted);
        Assert.False(File.Exists(temp), "the written file became the blob");
        Assert.True(adopting.HasBlob(digest));
        Assert.Equal("raw", exported.Format);
        Assert.Equal(await File.ReadAllBytesAsync(disk), await File.ReadAllBytesAsync(exported.Path));
    }

    [Fact]
    public async Task AdoptAsync_refuses_a_file_that_is_not_the_format_given_naming_its_title_and_deletes_it()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("layout"));
        var temp = layout.NewTempBlobPath();
        var bytes = new byte[64 * 1024];
        await File.WriteAllBytesAsync(temp, bytes);
        var digest = OciDigest.Compute(bytes);

        var e = await Assert.ThrowsAsync<UnsupportedContentException>(() => DiskArtifact.AdoptAsync(layout, temp, digest, "qcow2", "http://host/vm.qcow2"));

        Assert.Contains("http://host/vm.qcow2 is not a qcow2 image", e.Message);
        Assert.False(File.Exists(temp));
        Assert.False(layout.HasBlob(digest));
    }

    private static Descriptor Layer(string mediaType, string content) => Descriptor.For(mediaType, System.Text.Encoding.UTF8.GetBytes(content));

    private static ImageManifest Manifest(params Descriptor[] layers) =>
        new() { MediaType = MediaTypes.OciManifest, Config = Descriptor.For(DiskArtifact.ConfigMediaType, "{}"u8), Layers = layers };

    private static async Task<string> Inode(string path) => (await ExternalTool.RunAsync("stat", "-c", "%i", path)).Trim();
}
