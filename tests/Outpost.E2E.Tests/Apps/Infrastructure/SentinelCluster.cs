namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>
/// An <see cref="AppCluster"/> with one healthy app, `sentinel`, running throughout: a bad app must fail alone.
/// </summary>
public sealed class SentinelCluster : AppCluster
{
    public const string Sentinel = "sentinel";

    public string HelloReference => $"{Registry.Host}/e2e/sentinel:1";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await TestImages.HelloAsync(ImagesLayout, "sentinel");
        await PushAsync("sentinel", HelloReference);
        await DeployAsync(Sentinel, HelloReference);
        await WaitForStateAsync(Sentinel, "RUNNING");
    }

    /// <summary>The sentinel is RUNNING and still printing new lines.</summary>
    public async Task AssertSentinelRunningAsync()
    {
        var app = await AppAsync(Sentinel);
        Assert.True(app?.State == "RUNNING", $"sentinel is {app?.State} ({string.Join("; ", app?.Errors ?? [])}) while another app failed");
        var before = (await GreetingNumbersAsync(Sentinel)).DefaultIfEmpty(0).Max();
        await Eventually.TrueAsync(async () => (await GreetingNumbersAsync(Sentinel)).DefaultIfEmpty(0).Max() > before,
            Patience, "the sentinel to keep printing");
    }

    /// <summary>Waits for ERROR and returns the reasons, joined.</summary>
    public async Task<string> WaitForErrorAsync(string name)
    {
        var app = await WaitForStateAsync(name, "ERROR");
        var reason = string.Join("; ", app.Errors);
        Assert.False(string.IsNullOrWhiteSpace(reason), $"app {name} is in ERROR without a reason");
        return reason;
    }

    public Task RemoveAsync(string name) => CliOkAsync("app", "delete", name, "--device", Serial);
}
