using Outpost.E2E.Tests.Apps.Infrastructure;
using Outpost.Oci.Layout;

namespace Outpost.E2E.Tests.Apps;

/// <summary>The agent SIGKILLed at the worst moments: downloads resume where they stopped and running apps keep running.</summary>
public sealed class AgentRestartTests(AppCluster cluster) : IClassFixture<AppCluster>
{
    [Fact]
    public async Task Agent_killed_mid_download_resumes_the_download_after_restart()
    {
        await TestImages.LargeAsync(cluster.ImagesLayout, "killed-download", layerCount: 1, bytesPerLayer: 12 * 1024 * 1024);
        var image = await OciLayout.Open(cluster.ImagesLayout).ResolveAsync("killed-download");
        var total = image.Layers.Sum(l => l.Size) + image.Manifest.Config.Size;
        await cluster.PushAsync("killed-download", $"{cluster.Registry.Host}/e2e/killed-download:1");
        await using var proxy = await FaultyRegistryProxy.StartAsync(cluster.Registry.Host);
        proxy.BytesPerSecond = 3 * 1024 * 1024;

        await cluster.DeployAsync("download", $"{proxy.Host}/e2e/killed-download:1");
        await Eventually.TrueAsync(() => Task.FromResult(proxy.BlobBytesSent > total / 3), AppCluster.Patience, "a third of the image to be downloaded");
        await AgentProcess.KillAloneAsync(cluster.StateDir, cluster.Agent);
        proxy.BytesPerSecond = 0;
        cluster.StartAgent();

        await cluster.WaitForStateAsync("download", "RUNNING");
        Assert.Contains(proxy.RangeStarts, start => start > 0);
        Assert.True(proxy.BlobBytesSent < total * 3 / 2, $"the registry sent {proxy.BlobBytesSent} bytes for a {total}-byte image: the download restarted from zero");
        await cluster.CliOkAsync("app", "delete", "download", "--device", AppCluster.Serial);
    }

    [Fact]
    public async Task Agent_killed_while_an_app_runs_leaves_the_app_running_and_picks_it_up_again()
    {
        await TestImages.HelloAsync(cluster.ImagesLayout, "survivor");
        await cluster.PushAsync("survivor", $"{cluster.Registry.Host}/e2e/survivor:1");
        await cluster.DeployAsync("survivor", $"{cluster.Registry.Host}/e2e/survivor:1");
        await cluster.WaitForStateAsync("survivor", "RUNNING");
        await cluster.WaitForLogAsync("survivor", lines => lines.Contains($"{TestImages.Greeting} 3"), "three greetings before the kill");

        await AgentProcess.KillAloneAsync(cluster.StateDir, cluster.Agent);
        await Task.Delay(TimeSpan.FromSeconds(3));
        cluster.StartAgent();

        await cluster.WaitForStateAsync("survivor", "RUNNING");
        var before = (await cluster.GreetingNumbersAsync("survivor")).Max();
        await Eventually.TrueAsync(async () => (await cluster.GreetingNumbersAsync("survivor")).Max() > before + 2,
            AppCluster.Patience, "the app to go on printing after the agent came back");
        // Had the app been restarted, its counter would have begun again at 1.
        Assert.Equal(1, (await cluster.GreetingNumbersAsync("survivor")).Count(n => n == 1));
        await cluster.CliOkAsync("app", "delete", "survivor", "--device", AppCluster.Serial);
    }
}
