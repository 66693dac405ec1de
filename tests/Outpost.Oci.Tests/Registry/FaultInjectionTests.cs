using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Tests.Infrastructure;
using Outpost.Oci.Transfer;

namespace Outpost.Oci.Tests.Registry;

/// <summary>Downloads through a proxy that corrupts or cuts blob bodies on their way from the real registry.</summary>
public sealed class FaultInjectionTests(RegistryFixture registry) : IClassFixture<RegistryFixture>, IDisposable
{
    private const int PayloadBytes = 300_000;
    private readonly TempDirectory _temp = new("faults");
    private readonly RegistryClient _client = new(new RegistryClientOptions { InitialRetryDelay = TimeSpan.FromMilliseconds(10) });

    public void Dispose()
    {
        _client.Dispose();
        _temp.Dispose();
    }

    private async Task<TestImage> PushPayloadImageAsync(string repository)
    {
        var image = TestImage.WithRandomPayload(PayloadBytes);
        await image.PushAsync(_client, ImageReference.Parse($"{registry.Server.Host}/{repository}:v1"));
        return image;
    }

    [Fact]
    public async Task Corrupted_blob_throws_digest_mismatch_and_leaves_no_file_behind()
    {
        var image = await PushPayloadImageAsync("outpost/corrupt");
        await using var proxy = await RegistryProxy.StartAsync(registry.Server.Host, BlobFault.Corrupt);
        var layout = await OciLayout.CreateAsync(_temp.Sub("store"));
        var layer = image.Layers[0].Descriptor;

        var error = await Assert.ThrowsAsync<DigestMismatchException>(
            () => new ImagePuller(_client).PullAsync(ImageReference.Parse($"{proxy.Host}/outpost/corrupt:v1"), layout));

        Assert.Contains("was discarded", error.Message);
        Assert.NotEqual(error.Expected, error.Actual);
        Assert.False(layout.HasBlob(layer.Digest));
        Assert.False(File.Exists(layout.GetPartialPath(layer.Digest)));
        Assert.False(layout.HasBlob(image.ConfigDescriptor.Digest), "the corrupted config must not be stored either");
    }

    [Fact]
    public async Task Cut_download_resumes_with_a_range_request_and_verifies_the_whole_blob()
    {
        var image = await PushPayloadImageAsync("outpost/cut");
        var layer = image.Layers[0].Descriptor;
        const long cutAt = 100_000;
        await using var proxy = await RegistryProxy.StartAsync(registry.Server.Host, BlobFault.CutOnce, cutAt);
        var destination = _temp.Sub("layer.tar");

        await _client.DownloadBlobAsync(ImageReference.Parse($"{proxy.Host}/outpost/cut:v1"), layer, destination);

        Assert.Equal(image.Layers[0].Bytes, File.ReadAllBytes(destination));
        Assert.False(File.Exists(destination + ".partial"));
        // Bytes still in flight when the connection dropped are lost, so the resume point is at most the cut.
        var range = Assert.Single(proxy.RangeHeaders);
        var resumedAt = long.Parse(range["bytes=".Length..^1]);
        Assert.InRange(resumedAt, 1, cutAt);
        Assert.True(proxy.BlobBytesSent < 2 * layer.Size, $"fetched {proxy.BlobBytesSent} bytes for a {layer.Size}-byte blob; a resume must not start over");
        Assert.Equal(cutAt + (layer.Size - resumedAt), proxy.BlobBytesSent);
    }

    [Fact]
    public async Task Partial_file_left_by_an_earlier_run_is_continued_not_restarted()
    {
        var image = await PushPayloadImageAsync("outpost/leftover");
        var layer = image.Layers[0].Descriptor;
        await using var proxy = await RegistryProxy.StartAsync(registry.Server.Host);
        var destination = _temp.Sub("layer.tar");
        File.WriteAllBytes(destination + ".partial", image.Layers[0].Bytes[..50_000]);

        await _client.DownloadBlobAsync(ImageReference.Parse($"{proxy.Host}/outpost/leftover:v1"), layer, destination);

        Assert.Equal(image.Layers[0].Bytes, File.ReadAllBytes(destination));
        Assert.Equal(["bytes=50000-"], proxy.RangeHeaders);
        Assert.Equal(layer.Size - 50_000, proxy.BlobBytesSent);
    }

    [Fact]
    public async Task Corrupt_partial_file_fails_the_final_digest_and_is_discarded()
    {
        var image = await PushPayloadImageAsync("outpost/bad-partial");
        var layer = image.Layers[0].Descriptor;
        var destination = _temp.Sub("layer.tar");
        var garbage = new byte[50_000];
        File.WriteAllBytes(destination + ".partial", garbage);

        await Assert.ThrowsAsync<DigestMismatchException>(
            () => _client.DownloadBlobAsync(ImageReference.Parse($"{registry.Server.Host}/outpost/bad-partial:v1"), layer, destination));

        Assert.False(File.Exists(destination + ".partial"));
        Assert.False(File.Exists(destination));
    }
}
