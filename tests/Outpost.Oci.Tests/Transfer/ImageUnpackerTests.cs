using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction;
using Outpost.Oci.Layout;
using Outpost.Oci.Tests.Infrastructure;
using Outpost.Oci.Transfer;

namespace Outpost.Oci.Tests.Transfer;

public sealed class ImageUnpackerTests : IDisposable
{
    private readonly TempDirectory _temp = new("unpack");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Layers_apply_in_order_so_upper_layers_win()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        await TestImage.Create([new LayerBuilder().File("f", "lower").Tar(), new LayerBuilder().File("f", "upper").Tar()]).WriteToLayoutAsync(layout, "img");

        var written = await ImageUnpacker.UnpackAsync(layout, await layout.ResolveAsync("img"), _temp.Sub("root"), ExtractionPolicy.Untrusted);

        Assert.Equal("upper", File.ReadAllText(_temp.Sub("root/f")));
        Assert.Equal(10, written);
    }

    [Fact]
    public async Task Layer_that_does_not_match_the_configs_diff_id_is_rejected()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var layerTar = new LayerBuilder().File("f", "real").Tar();
        var layer = await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, LayerBuilder.Gzip(layerTar));
        var claimed = OciDigest.Compute(new LayerBuilder().File("f", "something else").Tar());
        var config = await layout.WriteBlobAsync(MediaTypes.OciConfig, OciJson.Serialize(new ImageConfig { Os = "linux", Architecture = "amd64", RootFs = new RootFs { DiffIds = [claimed] } }));
        var manifest = await layout.WriteBlobAsync(MediaTypes.OciManifest, OciJson.Serialize(new ImageManifest { MediaType = MediaTypes.OciManifest, Config = config, Layers = [layer] }));
        await layout.TagAsync("lying", manifest);

        var image = await layout.ResolveAsync("lying");
        var error = await Assert.ThrowsAsync<DigestMismatchException>(
            () => ImageUnpacker.UnpackAsync(layout, image, _temp.Sub("root"), ExtractionPolicy.Untrusted));

        Assert.Equal(claimed.ToString(), error.Expected);
        Assert.Equal(OciDigest.Compute(layerTar).ToString(), error.Actual);
    }

    [Fact]
    public async Task Byte_quota_covers_all_layers_together()
    {
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        await TestImage.Create([new LayerBuilder().File("a", new byte[700]).Tar(), new LayerBuilder().File("b", new byte[700]).Tar()]).WriteToLayoutAsync(layout, "img");

        var image = await layout.ResolveAsync("img");
        await Assert.ThrowsAsync<QuotaExceededException>(
            () => ImageUnpacker.UnpackAsync(layout, image, _temp.Sub("root"), new ExtractionPolicy { MaxBytes = 1000 }));
    }
}
