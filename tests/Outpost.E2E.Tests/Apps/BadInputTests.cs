using System.Formats.Tar;
using System.Net.Http.Json;
using Google.Protobuf;
using Org.Lfedge.Eve.Config;
using Outpost.Controller.Apps;
using Outpost.E2E.Tests.Apps.Infrastructure;
using Outpost.Oci.Layout;

namespace Outpost.E2E.Tests.Apps;

/// <summary>
/// Bad images, bad registries and bad settings: each app ends in ERROR with a reason an operator can act on, while the
/// sentinel app on the same device keeps running.
/// </summary>
public sealed class BadInputTests(SentinelCluster cluster) : IClassFixture<SentinelCluster>
{
    private const string Serial = AppCluster.Serial;

    [Fact]
    public async Task Corrupted_blob_fails_with_a_digest_mismatch()
    {
        await TestImages.HelloAsync(cluster.ImagesLayout, "corrupt");
        await cluster.PushAsync("corrupt", $"{cluster.Registry.Host}/e2e/corrupt:1");
        await using var proxy = await FaultyRegistryProxy.StartAsync(cluster.Registry.Host);
        proxy.Fault = BlobFault.Corrupt;

        await cluster.DeployAsync("corrupt", $"{proxy.Host}/e2e/corrupt:1");

        Assert.Contains("does not match", await cluster.WaitForErrorAsync("corrupt"), StringComparison.OrdinalIgnoreCase);
        await cluster.AssertSentinelRunningAsync();
        await cluster.RemoveAsync("corrupt");
    }

    [Fact]
    public async Task Truncated_blob_fails_and_says_the_transfer_was_short()
    {
        await TestImages.HelloAsync(cluster.ImagesLayout, "truncated");
        await cluster.PushAsync("truncated", $"{cluster.Registry.Host}/e2e/truncated:1");
        await using var proxy = await FaultyRegistryProxy.StartAsync(cluster.Registry.Host);
        proxy.Fault = BlobFault.Truncate;

        await cluster.DeployAsync("truncated", $"{proxy.Host}/e2e/truncated:1");

        var reason = await cluster.WaitForErrorAsync("truncated");
        Assert.True(reason.Contains("bytes", StringComparison.OrdinalIgnoreCase) || reason.Contains("does not match", StringComparison.OrdinalIgnoreCase),
            $"the reason does not say the blob was short or wrong: {reason}");
        await cluster.AssertSentinelRunningAsync();
        await cluster.RemoveAsync("truncated");
    }

    [Fact]
    public async Task Registry_gone_mid_download_and_back_resumes_from_where_it_stopped()
    {
        await TestImages.LargeAsync(cluster.ImagesLayout, "gone", layerCount: 1, bytesPerLayer: 12 * 1024 * 1024);
        var total = await ImageBytesAsync("gone");
        await cluster.PushAsync("gone", $"{cluster.Registry.Host}/e2e/gone:1");
        await using var proxy = await FaultyRegistryProxy.StartAsync(cluster.Registry.Host);
        proxy.BytesPerSecond = 3 * 1024 * 1024;

        await cluster.DeployAsync("gone", $"{proxy.Host}/e2e/gone:1");
        await Eventually.TrueAsync(() => Task.FromResult(proxy.BlobBytesSent > total / 3), AppCluster.Patience, "a third of the image to be downloaded");
        proxy.Down = true;
        await Task.Delay(TimeSpan.FromSeconds(8));
        proxy.Down = false;
        proxy.BytesPerSecond = 0;

        await cluster.WaitForStateAsync("gone", "RUNNING");
        Assert.Contains(proxy.RangeStarts, start => start > 0);
        Assert.True(proxy.BlobBytesSent < total * 3 / 2, $"the registry sent {proxy.BlobBytesSent} bytes for a {total}-byte image: the download restarted from zero");
        await cluster.AssertSentinelRunningAsync();
        await cluster.RemoveAsync("gone");
    }

    [Fact]
    public async Task Layer_entry_climbing_out_with_dot_dot_is_rejected()
    {
        var escapee = "outpost-escape-" + Guid.NewGuid().ToString("N");
        await TestImages.TwoLayerAsync(cluster.ImagesLayout, "dotdot",
            tar => TestImages.Add(tar, TestImages.TextFile($"../../{escapee}", "escaped")), ["/bin/sh", "-c", "sleep 1000"]);
        await cluster.PushAsync("dotdot", $"{cluster.Registry.Host}/e2e/dotdot:1");

        await cluster.DeployAsync("dotdot", $"{cluster.Registry.Host}/e2e/dotdot:1");

        Assert.Contains("..", await cluster.WaitForErrorAsync("dotdot"));
        Assert.Empty(Directory.EnumerateFiles(cluster.Root, escapee, SearchOption.AllDirectories));
        Assert.False(File.Exists(Path.Combine("/", escapee)));
        await cluster.AssertSentinelRunningAsync();
        await cluster.RemoveAsync("dotdot");
    }

    [Fact]
    public async Task Absolute_symlink_cannot_carry_a_write_outside_the_app_root()
    {
        // Layer 2 plants etc/link -> /tmp/<x> and then writes through it. Extraction resolves links as if chrooted, so
        // the file lands in the app's own /tmp/<x>; the host's /tmp/<x> must never appear.
        var outside = "/tmp/outpost-e2e-escape-" + Guid.NewGuid().ToString("N");
        await TestImages.TwoLayerAsync(cluster.ImagesLayout, "symlink", tar =>
        {
            TestImages.Add(tar, new PaxTarEntry(TarEntryType.Directory, "etc/") { Mode = (UnixFileMode)0b111_101_101 });
            TestImages.Add(tar, new PaxTarEntry(TarEntryType.SymbolicLink, "etc/link") { LinkName = outside });
            TestImages.Add(tar, TestImages.TextFile("etc/link/pwned", "contained-marker"));
        }, ["/bin/sh", "-c", $"cat {outside}/pwned; echo; while true; do sleep 1; done"]);
        await cluster.PushAsync("symlink", $"{cluster.Registry.Host}/e2e/symlink:1");

        await cluster.DeployAsync("symlink", $"{cluster.Registry.Host}/e2e/symlink:1");

        var app = await cluster.WaitForStateAsync("symlink", "RUNNING");
        await cluster.WaitForLogAsync("symlink", lines => lines.Any(l => l.Contains("contained-marker")), "the app to read the file inside its own root");
        Assert.False(Directory.Exists(outside) || File.Exists(outside), $"{outside} was created on the host through a symlink in a layer");
        Assert.Empty(app.Errors);
        await cluster.AssertSentinelRunningAsync();
        await cluster.RemoveAsync("symlink");
    }

    [Fact]
    public async Task Image_for_another_architecture_fails_naming_the_platforms_it_offers()
    {
        await TestImages.ForeignIndexAsync(cluster.ImagesLayout, "arm-only", "arm64");
        await cluster.PushAsync("arm-only", $"{cluster.Registry.Host}/e2e/arm-only:1");

        await cluster.DeployAsync("arm", $"{cluster.Registry.Host}/e2e/arm-only:1");

        Assert.Contains("arm64", await cluster.WaitForErrorAsync("arm"));
        await cluster.AssertSentinelRunningAsync();
        await cluster.RemoveAsync("arm");
    }

    [Fact]
    public async Task Image_larger_than_its_content_quota_fails_before_download()
    {
        await TestImages.HelloAsync(cluster.ImagesLayout, "quota");
        await cluster.PushAsync("quota", $"{cluster.Registry.Host}/e2e/quota:1");
        // The CLI sets no size limit, so the operator's other path is used: the device config, edited as protobuf JSON.
        await AddAppWithQuotaAsync("quota", $"e2e/quota:1", maxSizeBytes: 4096);

        Assert.Contains("limit", await cluster.WaitForErrorAsync("quota"), StringComparison.OrdinalIgnoreCase);
        await cluster.AssertSentinelRunningAsync();
        await cluster.RemoveAsync("quota");
    }

    [Fact]
    public async Task Unknown_datastore_is_refused_at_deploy_with_what_to_do()
    {
        var result = await cluster.CliAsync("app", "deploy", "--device", Serial, "--name", "nostore", "--image", cluster.HelloReference, "--datastore", "no-such-store");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("No datastore named 'no-such-store'", result.Error);
        Assert.Contains("outpost datastore add", result.Error);
        Assert.Null(await cluster.AppAsync("nostore"));
        await cluster.AssertSentinelRunningAsync();
    }

    [Fact]
    public async Task Wrong_registry_credentials_fail_with_a_reason_about_credentials()
    {
        using var locked = await RegistryServer.StartAsync(await RegistryServer.HtpasswdLineAsync("e2e", "right-password"));
        var right = Path.Combine(cluster.Root, "right-password");
        var wrong = Path.Combine(cluster.Root, "wrong-password");
        await File.WriteAllTextAsync(right, "right-password\n");
        await File.WriteAllTextAsync(wrong, "wrong-password\n");
        await TestImages.HelloAsync(cluster.ImagesLayout, "locked");
        var push = await cluster.PushAsync("locked", $"{locked.Host}/e2e/locked:1", "--username", "e2e", "--password-file", right);
        Assert.Contains("Pushed", push);
        // Through the admin API: `outpost datastore add` has its own --ca-file (the datastore's CA), which collides with
        // the controller's --ca-file this cluster's CLI helper passes.
        using (var saved = await cluster.Admin.Http.PostAsJsonAsync("api/admin/datastores",
            new CreateDatastoreRequest("locked", $"docker://{locked.Host}", "e2e", await File.ReadAllTextAsync(wrong), null)))
        {
            Assert.True(saved.IsSuccessStatusCode, $"saving the datastore answered {(int)saved.StatusCode}");
        }


        await cluster.DeployAsync("locked", $"{locked.Host}/e2e/locked:1", "--datastore", "locked");

        var reason = await cluster.WaitForErrorAsync("locked");
        Assert.True(reason.Contains("401") || reason.Contains("credentials", StringComparison.OrdinalIgnoreCase), $"the reason does not point at the credentials: {reason}");
        Assert.DoesNotContain("wrong-password", reason);
        await cluster.AssertSentinelRunningAsync();
        await cluster.RemoveAsync("locked");
    }

    /// <summary>Adds content tree, volume and app (copied from the sentinel's) with a content size limit, in one config change.</summary>
    private async Task AddAppWithQuotaAsync(string name, string repositoryAndTag, ulong maxSizeBytes)
    {
        var path = $"api/admin/devices/{cluster.Device.Id}/config";
        var config = JsonParser.Default.Parse<EdgeDevConfig>(await cluster.Admin.Http.GetStringAsync(path));
        var sentinel = config.Apps.Single(a => a.Displayname == SentinelCluster.Sentinel);
        var sentinelVolume = config.Volumes.Single(v => v.Uuid == sentinel.VolumeRefList[0].Uuid);
        var sentinelContent = config.ContentInfo.Single(c => c.Uuid == sentinelVolume.Origin.DownloadContentTreeID);

        var content = sentinelContent.Clone();
        content.Uuid = Guid.NewGuid().ToString();
        content.URL = repositoryAndTag;
        content.DisplayName = repositoryAndTag;
        content.MaxSizeBytes = maxSizeBytes;
        var volume = sentinelVolume.Clone();
        volume.Uuid = Guid.NewGuid().ToString();
        volume.Origin.DownloadContentTreeID = content.Uuid;
        volume.DisplayName = name + "-root";
        var app = sentinel.Clone();
        app.Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString(), Version = "1" };
        app.Displayname = name;
        app.VolumeRefList.Clear();
        app.VolumeRefList.Add(new VolumeRef { Uuid = volume.Uuid });
        config.ContentInfo.Add(content);
        config.Volumes.Add(volume);
        config.Apps.Add(app);

        using var body = new StringContent(JsonFormatter.Default.Format(config), System.Text.Encoding.UTF8, "application/json");
        using var response = await cluster.Admin.Http.PutAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"PUT config answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    private async Task<long> ImageBytesAsync(string tag)
    {
        var image = await OciLayout.Open(cluster.ImagesLayout).ResolveAsync(tag);
        return image.Layers.Sum(l => l.Size) + image.Manifest.Config.Size;
    }
}
