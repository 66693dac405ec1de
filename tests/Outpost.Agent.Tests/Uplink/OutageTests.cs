using Org.Lfedge.Eve.Info;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Api.Logs;

namespace Outpost.Agent.Tests.Uplink;

public sealed class OutageTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly EveControllerFixture _controller = new();

    public Task InitializeAsync() => _controller.StartAsync();

    public async Task DisposeAsync() => await _controller.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Controller_down_then_up_outbox_delivers_everything_and_loses_nothing()
    {
        _controller.State.AllowedSerials["SN-OUTAGE"] = true;
        var confDir = _temp.Sub("conf");
        var stateDir = _temp.Sub("state");
        var outboxDir = Path.Combine(stateDir, "outbox");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-OUTAGE");
        using var run = new AgentTestRun(confDir, stateDir);
        run.Options = run.Options with { ExitWhenOnline = true };
        Assert.Equal(0, await run.RunToCompletionAsync());
        var uuid = File.ReadAllText(Path.Combine(stateDir, "uuid")).Trim();

        // Outage: the agent starts without its controller and must keep what it produces.
        await _controller.StopAsync();
        var outageStart = DateTimeOffset.UtcNow;
        run.Options = run.Options with { ExitWhenOnline = false };
        using var stop = new CancellationTokenSource();
        var agent = run.Start(stop.Token);
        // Wait for lines logged during the outage itself (not leftovers of the first run) to be queued. The device info
        // is the one the controller accepted before the outage, so it is rightly not sent again.
        await run.WaitUntilAsync(() => OutboxFiles(outboxDir, ".newlogs").Any(f =>
                NewLogsFormat.Unpack(File.ReadAllBytes(f)).Entries.Any(e => e.Timestamp.ToDateTimeOffset() >= outageStart)),
            "log lines from the outage were queued in the outbox");

        var outageEnd = DateTimeOffset.UtcNow;
        await _controller.StartAsync();
        await run.WaitUntilAsync(() => _controller.State.LogEntries.Any(e =>
                e.Timestamp.ToDateTimeOffset() >= outageStart && e.Timestamp.ToDateTimeOffset() <= outageEnd),
            "log lines written during the outage reached the controller");
        await run.WaitUntilAsync(() => !OutboxFiles(outboxDir, "").Any(), "the outbox drained");
        await stop.CancelAsync();
        Assert.Equal(0, await agent);

        // Every message id ever assigned is either at the controller or still queued (the shutdown flush): no gaps.
        var delivered = _controller.State.LogEntries.Select(e => e.Msgid).ToList();
        var queued = OutboxFiles(outboxDir, ".newlogs").SelectMany(f => NewLogsFormat.Unpack(File.ReadAllBytes(f)).Entries).Select(e => e.Msgid).ToList();
        var all = delivered.Concat(queued).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, all.Count).Select(i => (ulong)i), all.Order());
        Assert.All(_controller.State.Infos, i => Assert.Equal(uuid, i.DevId));
        Assert.All(_controller.State.Infos, i => Assert.Equal(ZInfoTypes.ZiDevice, i.Ztype));
    }

    private static IEnumerable<string> OutboxFiles(string directory, string suffix) =>
        Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory).Where(f => !Path.GetFileName(f).StartsWith('.') && Path.GetFileName(f) != "outbox.state" && f.EndsWith(suffix, StringComparison.Ordinal)).ToList()
            : [];
}
