using System.Text.Json;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Tests.Infrastructure;
using Outpost.Oci.Transfer;

namespace Outpost.Oci.Tests.Registry;

/// <summary>Push and pull against Debian's docker-registry, with skopeo as the independent witness.</summary>
public sealed class RegistryRoundTripTests(RegistryFixture registry) : IClassFixture<RegistryFixture>, IDisposable
{
    private readonly TempDirectory _temp = new("roundtrip");
    private readonly RegistryClient _client = new(new RegistryClientOptions { InitialRetryDelay = TimeSpan.FromMilliseconds(10) });

    public void Dispose()
    {
        _client.Dispose();
        _temp.Dispose();
    }

    private ImageReference Ref(string repoAndTag) => ImageReference.Parse($"{registry.Server.Host}/{repoAndTag}");

    private static TestImage SampleImage(string marker) => TestImage.Create(
    [
        new LayerBuilder().Dir("etc").File("etc/os-release", $"ID={marker}\n").Dir("bin").File("bin/app", "#!/bin/sh\necho hi\n", (UnixFileMode)0b111_101_101).Tar(),
        new LayerBuilder().File("etc/motd", "welcome\n").Symlink("bin/sh", "app").Tar(),
    ]);

    [Fact]
    public async Task Pushed_image_pulls_back_identical_into_a_layout()
    {
        var image = SampleImage("roundtrip");
        var reference = Ref("outpost/roundtrip:v1");
        var pushed = await image.PushAsync(_client, reference);
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var reports = new List<long>();

        var pulled = await new ImagePuller(_client).PullAsync(reference, layout, progress: new SyncProgress(reports.Add));

        Assert.Equal(image.ManifestDescriptor.Digest, pushed);
        Assert.Equal(pushed, pulled.ManifestDescriptor.Digest);
        Assert.Equal(image.Manifest, await layout.ReadBlobAsync(pulled.ManifestDescriptor.Digest));
        Assert.Equal(image.Config, await layout.ReadBlobAsync(pulled.Manifest.Config.Digest));
        foreach (var (descriptor, bytes) in image.Layers)
            Assert.Equal(bytes, File.ReadAllBytes(layout.GetBlobPath(descriptor.Digest)));
        Assert.Equal(image.Config.Length + image.Layers.Sum(l => l.Bytes.Length), reports.Max());
        Assert.Equal(reports.Order(), reports);
        var resolvedAgain = await layout.ResolveAsync(reference.ToString());
        Assert.Equal(pushed, resolvedAgain.ManifestDescriptor.Digest);
    }

    [Fact]
    public async Task Skopeo_sees_exactly_the_manifest_and_layers_we_pushed()
    {
        var image = SampleImage("skopeo");
        var reference = Ref("outpost/skopeo-check:v1");
        await image.PushAsync(_client, reference);

        var raw = await ExternalTool.RunAsync("skopeo", "inspect", "--tls-verify=false", "--raw", $"docker://{reference}");
        var info = JsonDocument.Parse(await ExternalTool.RunAsync("skopeo", "inspect", "--tls-verify=false", $"docker://{reference}")).RootElement;

        Assert.Equal(image.Manifest, System.Text.Encoding.UTF8.GetBytes(raw.TrimEnd('\n')));
        Assert.Equal(image.ManifestDescriptor.Digest.ToString(), info.GetProperty("Digest").GetString());
        Assert.Equal("amd64", info.GetProperty("Architecture").GetString());
        Assert.Equal(image.Layers.Select(l => l.Descriptor.Digest.ToString()), info.GetProperty("Layers").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Layout_written_by_skopeo_copy_resolves_with_OciLayout()
    {
        var image = SampleImage("skopeo-layout");
        var reference = Ref("outpost/skopeo-layout:v1");
        await image.PushAsync(_client, reference);
        var dir = _temp.Sub("skopeo-oci");

        await ExternalTool.RunAsync("skopeo", "copy", "--src-tls-verify=false", $"docker://{reference}", $"oci:{dir}:mytag");
        var resolved = await OciLayout.Open(dir).ResolveAsync("mytag");

        Assert.Equal(2, resolved.Layers.Count);
        Assert.Equal(image.Layers.Select(l => l.Descriptor.Digest), resolved.Layers.Select(l => l.Digest));
        Assert.Equal(["/bin/sh"], resolved.Config.Config!.Cmd!);
        Assert.Equal("linux", resolved.Config.Os);
    }

    [Fact]
    public async Task Index_pull_selects_the_requested_platform_and_variant()
    {
        var amd = TestImage.Create([new LayerBuilder().File("arch", "amd64").Tar()]);
        var armV7 = TestImage.Create([new LayerBuilder().File("arch", "armv7").Tar()], Platform.Parse("linux/arm/v7"));
        var armV6 = TestImage.Create([new LayerBuilder().File("arch", "armv6").Tar()], Platform.Parse("linux/arm/v6"));
        var reference = Ref("outpost/multi:v1");
        foreach (var image in new[] { amd, armV6, armV7 })
            await image.PushAsync(_client, ImageReference.Parse($"{reference.Name}@{image.ManifestDescriptor.Digest}"));
        await _client.PutManifestAsync(reference, MediaTypes.OciIndex, TestImage.Index(amd, armV6, armV7));
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));

        var pulled = await new ImagePuller(_client).PullAsync(reference, layout, Platform.Parse("linux/arm/v7"));
        var pulledDefault = await _client.ResolveImageAsync(reference);

        Assert.Equal(armV7.ManifestDescriptor.Digest, pulled.ManifestDescriptor.Digest);
        Assert.Equal("v7", pulled.Config.Variant);
        Assert.Equal(amd.ManifestDescriptor.Digest, pulledDefault.Manifest.Digest);
    }

    [Fact]
    public async Task Index_with_only_arm64_throws_platform_not_found_listing_what_exists()
    {
        var arm = TestImage.Create([new LayerBuilder().File("arch", "arm64").Tar()], Platform.Parse("linux/arm64/v8"));
        var reference = Ref("outpost/arm-only:v1");
        await arm.PushAsync(_client, ImageReference.Parse($"{reference.Name}@{arm.ManifestDescriptor.Digest}"));
        await _client.PutManifestAsync(reference, MediaTypes.OciIndex, TestImage.Index(arm));
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));

        var error = await Assert.ThrowsAsync<PlatformNotFoundException>(() => new ImagePuller(_client).PullAsync(reference, layout));

        Assert.Equal("linux/amd64", error.Requested);
        Assert.Equal(["linux/arm64/v8"], error.Available);
        Assert.Contains("linux/arm64/v8", error.Message);
    }

    [Fact]
    public async Task Unknown_tag_throws_manifest_not_found()
    {
        var error = await Assert.ThrowsAsync<ManifestNotFoundException>(() => _client.GetManifestAsync(Ref("outpost/nothing-here:v9")));
        Assert.Contains("outpost/nothing-here:v9", error.Message);
    }

    [Fact]
    public async Task Image_larger_than_the_pull_quota_fails_before_downloading()
    {
        var image = TestImage.WithRandomPayload(20_000);
        var reference = Ref("outpost/big:v1");
        await image.PushAsync(_client, reference);
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));

        var error = await Assert.ThrowsAsync<QuotaExceededException>(
            () => new ImagePuller(_client, new ImagePullOptions { MaxTotalBytes = 10_000 }).PullAsync(reference, layout));

        Assert.Equal(10_000, error.LimitBytes);
        Assert.False(layout.HasBlob(image.Layers[0].Descriptor.Digest));
    }

    [Fact]
    public async Task Blob_over_the_client_blob_limit_fails_with_quota_exceeded()
    {
        var image = TestImage.WithRandomPayload(20_000);
        var reference = Ref("outpost/big-blob:v1");
        await image.PushAsync(_client, reference);
        using var limited = new RegistryClient(new RegistryClientOptions { MaxBlobBytes = 5_000 });

        await Assert.ThrowsAsync<QuotaExceededException>(
            () => limited.DownloadBlobAsync(reference, image.Layers[0].Descriptor, _temp.Sub("blob")));
        Assert.False(File.Exists(_temp.Sub("blob")));
    }

    [Fact]
    public async Task Uploading_a_blob_the_registry_has_is_skipped()
    {
        var image = SampleImage("skip");
        var reference = Ref("outpost/skip:v1");
        await image.PushAsync(_client, reference);

        Assert.False(await _client.UploadBlobAsync(reference, image.Layers[0].Descriptor, image.Layers[0].Bytes));
        Assert.True(await _client.BlobExistsAsync(reference, image.Layers[0].Descriptor.Digest));
    }

    [Fact]
    public async Task Image_pushed_from_a_layout_is_copyable_by_skopeo()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var image = SampleImage("from-layout");
        await image.WriteToLayoutAsync(layout, "local");
        var target = Ref("outpost/from-layout:v2");

        var digest = await new ImagePusher(_client).PushAsync(layout, "local", target);
        await ExternalTool.RunAsync("skopeo", "copy", "--src-tls-verify=false", $"docker://{target}", $"oci:{_temp.Sub("check")}:v2");

        Assert.Equal(image.ManifestDescriptor.Digest, digest);
        Assert.Equal(digest, (await OciLayout.Open(_temp.Sub("check")).ResolveAsync("v2")).ManifestDescriptor.Digest);
    }

    [Theory]
    [InlineData("docker-archive", MediaTypes.DockerManifest)]
    [InlineData("oci-archive", MediaTypes.OciManifest)]
    public async Task Archive_made_by_skopeo_pushes_and_keeps_its_layers(string format, string expectedManifestType)
    {
        var image = SampleImage(format);
        var source = Ref($"outpost/archive-src-{format}:v1");
        await image.PushAsync(_client, source);
        var archive = _temp.Sub($"{format}.tar");
        await ExternalTool.RunAsync("skopeo", "copy", "--src-tls-verify=false", $"docker://{source}", $"{format}:{archive}:outpost/x:v1");
        var target = Ref($"outpost/archive-dst-{format}:v1");

        await new ImagePusher(_client).PushArchiveAsync(archive, target);

        var raw = JsonDocument.Parse(await ExternalTool.RunAsync("skopeo", "inspect", "--tls-verify=false", "--raw", $"docker://{target}")).RootElement;
        Assert.Equal(expectedManifestType, raw.GetProperty("mediaType").GetString());
        var layout = await OciLayout.CreateAsync(_temp.Sub("pulled"));
        var pulled = await new ImagePuller(_client).PullAsync(target, layout);
        var root = _temp.Sub("rootfs");
        await ImageUnpacker.UnpackAsync(layout, pulled, root, Outpost.Oci.Extraction.ExtractionPolicy.Untrusted);
        Assert.Equal($"ID={format}\n", File.ReadAllText(Path.Combine(root, "etc/os-release")));
        Assert.Equal("app", new FileInfo(Path.Combine(root, "bin/sh")).LinkTarget);
    }

    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
