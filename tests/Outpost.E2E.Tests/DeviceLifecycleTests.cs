using Outpost.Controller.Storage;

namespace Outpost.E2E.Tests;

/// <summary>
/// A controller and an agent as two real `outpost` processes over real HTTPS on 127.0.0.1, onboarded with
/// the CLI, with short timers so the loop turns quickly.
/// </summary>
public sealed class DeviceLifecycleTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly string _root = Directory.CreateTempSubdirectory("outpost-e2e-").FullName;
    private readonly int _port = OutpostBinary.FreePort();
    private readonly List<OutpostDaemon> _daemons = [];
    private OutpostDaemon? _controller;

    private string ControllerData => Path.Combine(_root, "controller");

    private string ConfigDir => Path.Combine(_root, "device", "config");

    private string StateDir => Path.Combine(_root, "device", "state");

    public async Task InitializeAsync()
    {
        _controller = await StartControllerAsync();
        var onboard = await OutpostBinary.RunAsync(_root, "onboarding", "create", "--serial", "E2E-0001", "--out", ConfigDir,
            "--controller", $"https://127.0.0.1:{_port}/", "--token-file", Path.Combine(ControllerData, "admin.token"),
            "--ca-file", Path.Combine(ControllerData, "pki", "root-certificate.pem"));
        Assert.True(onboard.ExitCode == 0, $"onboarding create failed: {onboard.Output}{onboard.Error}");
        foreach (var file in new[] { "server", "root-certificate.pem", "onboard.cert.pem", "onboard.key.pem", "soft_serial" })
        {
            Assert.True(File.Exists(Path.Combine(ConfigDir, file)), $"onboarding create did not write {file}");
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(ConfigDir, "onboard.key.pem")));
    }

    private async Task<OutpostDaemon> StartControllerAsync()
    {
        var controller = Track(OutpostDaemon.Start(_root, "controller", "--data", ControllerData, "--listen", $"127.0.0.1:{_port}",
            "--default-config-item", "timer.config.interval=5", "--default-config-item", "timer.metric.interval=5"));
        await controller.WaitForOutputAsync("listening on", Patience);
        return controller;
    }

    private OutpostDaemon StartAgent() => Track(OutpostDaemon.Start(_root, "agent", "--config", ConfigDir, "--state", StateDir));

    private OutpostDaemon Track(OutpostDaemon daemon)
    {
        _daemons.Add(daemon);
        return daemon;
    }

    private async Task<DeviceView> WaitOnlineAsync(AdminHttp admin)
    {
        DeviceView? device = null;
        await Eventually.TrueAsync(async () =>
        {
            device = (await admin.DevicesAsync()).SingleOrDefault(d => d.Serial == "E2E-0001" && d.Hostname is not null);
            return device is not null;
        }, Patience, "the device to register and report its info");
        return device!;
    }

    [Fact]
    public async Task Agent_onboards_reports_info_metrics_and_logs_and_follows_config_changes()
    {
        var agent = StartAgent();
        using var admin = new AdminHttp(ControllerData);
        var device = await WaitOnlineAsync(admin);
        Assert.True(device.Attested);
        Assert.True(device.AttestedWithoutTpm);

        var detail = await admin.DeviceAsync(device.Id.ToString());
        var dinfo = detail.GetProperty("deviceInfo").GetProperty("dinfo");
        Assert.Equal(Environment.ProcessorCount, dinfo.GetProperty("ncpu").GetInt32());
        Assert.Equal(Environment.MachineName, dinfo.GetProperty("HostName").GetString());

        await Eventually.TrueAsync(async () => (await admin.MetricsAsync(device.Id.ToString())).Count >= 2, Patience, "two metrics reports");
        await Eventually.TrueAsync(async () => (await admin.LogsAsync(device.Id.ToString())).Any(l => l.Content.Contains("Onboarded")),
            Patience, "the agent's own 'Onboarded' log line to arrive as newlogs");

        var set = await OutpostBinary.RunAsync(_root, "device", "config", "set", "E2E-0001", "--item", "app.test.marker=42",
            "--controller", $"https://127.0.0.1:{_port}/", "--token-file", Path.Combine(ControllerData, "admin.token"),
            "--ca-file", Path.Combine(ControllerData, "pki", "root-certificate.pem"));
        Assert.True(set.ExitCode == 0, set.Output + set.Error);
        // The agent reports the item it does not know back in configItemStatus, as EVE does.
        await Eventually.TrueAsync(async () =>
            (await admin.DeviceAsync(device.Id.ToString())).GetProperty("deviceInfo").GetRawText().Contains("app.test.marker", StringComparison.Ordinal),
            Patience, "the device to report the new config item in its info");

        var list = await OutpostBinary.RunAsync(_root, "device", "list",
            "--controller", $"https://127.0.0.1:{_port}/", "--token-file", Path.Combine(ControllerData, "admin.token"),
            "--ca-file", Path.Combine(ControllerData, "pki", "root-certificate.pem"));
        Assert.Contains("E2E-0001", list.Output);
        Assert.Contains("online", list.Output);
    }

    [Fact]
    public async Task Agent_killed_and_restarted_resumes_without_storing_duplicate_info()
    {
        var agent = StartAgent();
        using var admin = new AdminHttp(ControllerData);
        var device = await WaitOnlineAsync(admin);
        var store = new SqliteControllerStore(Path.Combine(ControllerData, "controller.db"));
        // Let the first reports settle, then count.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var infoBefore = await store.CountInfoAsync(device.Id, CancellationToken.None);

        var certificateBefore = await File.ReadAllTextAsync(Path.Combine(StateDir, "device.cert.pem"));
        await agent.KillAsync();
        var restartedAt = DateTimeOffset.UtcNow;
        var restarted = StartAgent();
        await restarted.WaitForOutputAsync("Resuming as device", Patience);
        await Eventually.TrueAsync(async () => (await admin.DevicesAsync()).Single().LastSeenAt > restartedAt.AddSeconds(1),
            Patience, "the restarted agent to call the controller again");
        // Give it time to send whatever it would resend (device info is checked every 30 s at most).
        await Task.Delay(TimeSpan.FromSeconds(8));
        Assert.Equal(infoBefore, await store.CountInfoAsync(device.Id, CancellationToken.None));
        Assert.Equal(device.Id, Assert.Single(await admin.DevicesAsync()).Id);
        Assert.Equal(certificateBefore, await File.ReadAllTextAsync(Path.Combine(StateDir, "device.cert.pem")));
    }

    [Fact]
    public async Task Controller_away_for_a_while_loses_nothing_once_it_is_back()
    {
        var agent = StartAgent();
        using (var admin = new AdminHttp(ControllerData))
        {
            await WaitOnlineAsync(admin);
        }

        await _controller!.StopAsync();
        var outageStart = DateTimeOffset.UtcNow;
        // While the controller is away the agent keeps logging its failed attempts; those lines must arrive later.
        await Task.Delay(TimeSpan.FromSeconds(12));
        var outageEnd = DateTimeOffset.UtcNow;
        // The agent is also killed during the outage: what it queued must survive in its outbox.
        await agent.KillAsync();

        _controller = await StartControllerAsync();
        StartAgent();
        using var again = new AdminHttp(ControllerData);
        var device = await WaitOnlineAsync(again);
        try
        {
            await Eventually.TrueAsync(async () =>
                (await again.LogsAsync(device.Id.ToString())).Any(l => l.DeviceTimestamp >= outageStart && l.DeviceTimestamp <= outageEnd),
                Patience, "log lines written during the outage to be delivered after it");
        }
        catch (TimeoutException e)
        {
            var logs = await again.LogsAsync(device.Id.ToString());
            throw new TimeoutException($"{e.Message} Outage {outageStart:O}..{outageEnd:O}. Stored lines:\n"
                + string.Join("\n", logs.Select(l => $"{l.DeviceTimestamp:O} {l.Content}")) + "\nAgent output:\n" + agent.Output);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var daemon in _daemons)
        {
            await daemon.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }
}
