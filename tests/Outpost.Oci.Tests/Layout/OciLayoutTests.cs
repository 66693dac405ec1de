using System.Text;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.Tests.Infrastructure;

namespace Outpost.Oci.Tests.Layout;

public sealed class OciLayoutTests : IDisposable
{
    private readonly TempDirectory _temp = new("layout");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task New_layout_has_the_marker_file_and_an_empty_index()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));

        Assert.Equal("{\"imageLayoutVersion\":\"1.0.0\"}", File.ReadAllText(Path.Combine(layout.Path, "oci-layout")));
        Assert.Empty((await layout.ReadIndexAsync()).Manifests);
        Assert.True(Directory.Exists(Path.Combine(layout.Path, "blobs", "sha256")));
    }

    [Fact]
    public void Opening_a_directory_without_oci_layout_file_explains_the_problem()
    {
        var error = Assert.Throws<UnsupportedContentException>(() => OciLayout.Open(_temp.Path));
        Assert.Contains("oci-layout", error.Message);
    }

    [Fact]
    public async Task Blobs_are_stored_under_their_sha256()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var bytes = Encoding.UTF8.GetBytes("hello");

        var fromBytes = await layout.WriteBlobAsync("text/plain", bytes);
        var fromStream = await layout.WriteBlobAsync("text/plain", new MemoryStream(bytes));

        Assert.Equal("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", fromBytes.Digest.ToString());
        Assert.Equal(fromBytes, fromStream);
        Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(layout.Path, "blobs", "sha256", fromBytes.Digest.Hex)));
        Assert.Empty(Directory.GetFiles(Path.Combine(layout.Path, "blobs", "sha256"), ".tmp-*"));
    }

    [Fact]
    public async Task Tagged_image_resolves_to_manifest_config_and_layers()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var image = TestImage.Create([new LayerBuilder().File("a", "a").Tar(), new LayerBuilder().File("b", "b").Tar()],
            run: new ContainerConfig { Entrypoint = ["/bin/app"], WorkingDir = "/srv", User = "1000:1000", ExposedPorts = new Dictionary<string, EmptyObject> { ["8080/tcp"] = new() }, Labels = new Dictionary<string, string> { ["k"] = "v" } });
        await image.WriteToLayoutAsync(layout, "v1");

        var resolved = await layout.ResolveAsync("v1");

        Assert.Equal(image.ManifestDescriptor.Digest, resolved.ManifestDescriptor.Digest);
        Assert.Equal(image.Layers.Select(l => l.Descriptor.Digest), resolved.Layers.Select(l => l.Digest));
        Assert.Equal(["/bin/app"], resolved.Config.Config!.Entrypoint!);
        Assert.Equal("/srv", resolved.Config.Config.WorkingDir);
        Assert.Equal("1000:1000", resolved.Config.Config.User);
        Assert.Equal(["8080/tcp"], resolved.Config.Config.ExposedPorts!.Keys);
        Assert.Equal("v", resolved.Config.Config.Labels!["k"]);
        Assert.Equal(2, resolved.Config.RootFs.DiffIds.Count);
    }

    [Fact]
    public async Task Unknown_name_lists_the_names_that_exist()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        await TestImage.Create([new LayerBuilder().File("a", "a").Tar()]).WriteToLayoutAsync(layout, "present");

        var error = await Assert.ThrowsAsync<ImageNotFoundException>(() => layout.ResolveAsync("absent"));
        Assert.Contains("present", error.Message);
    }

    [Fact]
    public async Task Index_root_resolves_to_the_requested_platform_and_rejects_missing_ones()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var amd = TestImage.Create([new LayerBuilder().File("arch", "amd64").Tar()]);
        var arm = TestImage.Create([new LayerBuilder().File("arch", "arm64").Tar()], Platform.Parse("linux/arm64/v8"));
        await amd.WriteToLayoutAsync(layout, "tmp-amd");
        await arm.WriteToLayoutAsync(layout, "tmp-arm");
        var index = await layout.WriteBlobAsync(MediaTypes.OciIndex, TestImage.Index(amd, arm));
        await layout.TagAsync("multi", index);

        Assert.Equal(arm.ManifestDescriptor.Digest, (await layout.ResolveAsync("multi", Platform.Parse("linux/arm64"))).ManifestDescriptor.Digest);
        Assert.Equal(amd.ManifestDescriptor.Digest, (await layout.ResolveAsync("multi")).ManifestDescriptor.Digest);
        var error = await Assert.ThrowsAsync<PlatformNotFoundException>(() => layout.ResolveAsync("multi", Platform.Parse("linux/riscv64")));
        Assert.Equal(["linux/amd64", "linux/arm64/v8"], error.Available);
    }

    [Fact]
    public async Task Garbage_collection_frees_unreachable_blobs_and_partials_but_keeps_reachable_ones()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var kept = TestImage.Create([new LayerBuilder().File("kept", "k").Tar()]);
        var dropped = TestImage.Create([new LayerBuilder().File("dropped", new byte[5000]).Tar()]);
        await kept.WriteToLayoutAsync(layout, "kept");
        await dropped.WriteToLayoutAsync(layout, "dropped");
        var stalePartial = layout.GetPartialPath(OciDigest.Compute(new byte[] { 1 }));
        File.WriteAllBytes(stalePartial, new byte[123]);

        Assert.True(await layout.UntagAsync("dropped"));
        var freed = await layout.CollectGarbageAsync(TimeSpan.Zero);

        var expected = dropped.Manifest.Length + dropped.Config.Length + dropped.Layers.Sum(l => l.Bytes.Length) + 123;
        Assert.Equal(expected, freed);
        Assert.False(File.Exists(stalePartial));
        Assert.False(layout.HasBlob(dropped.ManifestDescriptor.Digest));
        Assert.True(layout.HasBlob(kept.Layers[0].Descriptor.Digest));
        Assert.Equal(kept.ManifestDescriptor.Digest, (await layout.ResolveAsync("kept")).ManifestDescriptor.Digest);
    }

    [Fact]
    public async Task Garbage_collection_spares_recent_files_of_a_pull_in_progress()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var unreferenced = await layout.WriteBlobAsync("application/octet-stream", new byte[10]);

        Assert.Equal(0, await layout.CollectGarbageAsync(TimeSpan.FromHours(1)));
        Assert.True(layout.HasBlob(unreferenced.Digest));
    }

    [Fact]
    public async Task Corrupted_blob_is_detected_on_read()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var blob = await layout.WriteBlobAsync("application/json", Encoding.UTF8.GetBytes("{}"));
        File.WriteAllText(layout.GetBlobPath(blob.Digest), "{\"x\":1}");

        await Assert.ThrowsAsync<DigestMismatchException>(() => layout.ReadBlobAsync(blob.Digest));
    }
}
