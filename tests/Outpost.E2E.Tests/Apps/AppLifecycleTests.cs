using Outpost.E2E.Tests.Apps.Infrastructure;

namespace Outpost.E2E.Tests.Apps;

/// <summary>An app's whole life through the CLI: push, deploy, run, logs, restart, purge, stop, delete.</summary>
public sealed class AppLifecycleTests(AppCluster cluster) : IClassFixture<AppCluster>
{
    private const string Serial = AppCluster.Serial;

    [Fact]
    public async Task Pushed_image_deploys_runs_logs_restarts_purges_stops_and_is_deleted()
    {
        var reference = $"{cluster.Registry.Host}/e2e/hello:1";
        await TestImages.HelloAsync(cluster.ImagesLayout, "lifecycle");
        var push = await cluster.PushAsync("lifecycle", reference);
        Assert.Contains("Pushed", push);
        // skopeo, an independent client, sees what was pushed.
        await ExternalTools.RunAsync("skopeo", "inspect", "--tls-verify=false", $"docker://{reference}");

        await cluster.DeployAsync("hello", reference);
        await cluster.WaitForStateAsync("hello", "RUNNING");
        var list = await cluster.CliOkAsync("app", "list", "--device", Serial);
        Assert.Contains(list.Split('\n'), line => line.Contains("hello") && line.Contains("RUNNING"));
        await cluster.WaitForLogAsync("hello", lines => lines.Contains($"{TestImages.Greeting} 2"), "the app's second greeting in its log");
        Assert.Contains($"{TestImages.Greeting} 1", await cluster.CliOkAsync("app", "logs", "hello", "--device", Serial));

        // Restart: the same volume, a new process, so the greetings count from 1 again.
        await cluster.CliOkAsync("app", "restart", "hello", "--device", Serial);
        await cluster.WaitForLogAsync("hello", lines => lines.Count(l => l == $"{TestImages.Greeting} 1") >= 2, "the app to start over after restart");
        await cluster.WaitForStateAsync("hello", "RUNNING");

        // Purge: the volume is made again from the image and the app starts over once more.
        await cluster.CliOkAsync("app", "purge", "hello", "--device", Serial);
        await cluster.WaitForLogAsync("hello", lines => lines.Count(l => l == $"{TestImages.Greeting} 1") >= 3, "the app to start over after purge");
        await cluster.WaitForStateAsync("hello", "RUNNING");

        await cluster.CliOkAsync("app", "stop", "hello", "--device", Serial);
        await cluster.WaitForStateAsync("hello", "HALTED");
        // HALTED means its process is gone: no running container and no shim for it (rather than waiting to see
        // whether it keeps printing).
        var id = (await cluster.AppAsync("hello"))!.Id.ToString();
        Assert.DoesNotContain(await RuncLeftovers.RunningAsync(cluster.StateDir), running => running.Contains(id, StringComparison.Ordinal));

        await cluster.CliOkAsync("app", "delete", "hello", "--device", Serial);
        Assert.Null(await cluster.AppAsync("hello"));
        Assert.DoesNotContain("hello", await cluster.CliOkAsync("app", "list", "--device", Serial));
    }
}
