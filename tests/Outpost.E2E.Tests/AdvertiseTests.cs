namespace Outpost.E2E.Tests;

/// <summary>
/// `outpost controller --advertise` and `outpost onboarding create` as real processes: the advertised name ends up in
/// the device's server file, and a device onboarded before the list changes keeps fetching config afterwards.
/// </summary>
public sealed class AdvertiseTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly string _root = Directory.CreateTempSubdirectory("outpost-advertise-e2e-").FullName;
    private readonly int _port = OutpostBinary.FreePort();
    private readonly List<OutpostDaemon> _daemons = [];

    private string ControllerData => Path.Combine(_root, "controller");

    private string ConfigDir => Path.Combine(_root, "device", "config");

    private string[] AdminFlags =>
    [
        "--controller", $"https://127.0.0.1:{_port}/", "--token-file", Path.Combine(ControllerData, "admin.token"),
        "--ca-file", Path.Combine(ControllerData, "pki", "root-certificate.pem"),
    ];

    public Task InitializeAsync() => Task.CompletedTask;

    private async Task<OutpostDaemon> StartControllerAsync(string advertise)
    {
        var controller = OutpostDaemon.Start(_root, "controller", "--data", ControllerData, "--listen", $"127.0.0.1:{_port}",
            "--advertise", advertise, "--default-config-item", "timer.config.interval=5");
        _daemons.Add(controller);
        await controller.WaitForOutputAsync("listening on", Patience);
        return controller;
    }

    [Fact]
    public async Task A_device_onboarded_before_the_advertised_names_change_keeps_fetching_config()
    {
        var controller = await StartControllerAsync("127.0.0.1,one.example.test");
        var onboard = await OutpostBinary.RunAsync(_root, ["onboarding", "create", "--serial", "ADV-0001", "--out", ConfigDir, .. AdminFlags]);
        Assert.True(onboard.ExitCode == 0, $"onboarding create failed: {onboard.Output}{onboard.Error}");
        Assert.Equal($"127.0.0.1:{_port}", (await File.ReadAllTextAsync(Path.Combine(ConfigDir, "server"))).Trim());

        var agent = OutpostDaemon.Start(_root, "agent", "--config", ConfigDir, "--state", Path.Combine(_root, "device", "state"));
        _daemons.Add(agent);
        using (var admin = new AdminHttp(ControllerData))
        {
            await Eventually.TrueAsync(async () => (await admin.DevicesAsync()).Any(d => d.Serial == "ADV-0001" && d.Online), Patience, "the device to come online");
        }

        var rootBefore = await File.ReadAllBytesAsync(Path.Combine(ControllerData, "pki", "root-certificate.pem"));
        var tlsBefore = await File.ReadAllBytesAsync(Path.Combine(ControllerData, "pki", "server.cert.pem"));
        await controller.StopAsync();
        await StartControllerAsync("127.0.0.1,two.example.test");
        Assert.NotEqual(tlsBefore, await File.ReadAllBytesAsync(Path.Combine(ControllerData, "pki", "server.cert.pem")));
        Assert.Equal(rootBefore, await File.ReadAllBytesAsync(Path.Combine(ControllerData, "pki", "root-certificate.pem")));

        // The device only learns of this item by fetching its config over the re-issued certificate.
        var set = await OutpostBinary.RunAsync(_root, ["device", "config", "set", "ADV-0001", "--item", "app.test.marker=after-reissue", .. AdminFlags]);
        Assert.True(set.ExitCode == 0, set.Output + set.Error);
        using var again = new AdminHttp(ControllerData);
        await Eventually.TrueAsync(async () =>
            (await again.DevicesAsync()).Single().Id is var id
            && (await again.DeviceAsync(id.ToString())).GetProperty("deviceInfo").GetRawText().Contains("app.test.marker", StringComparison.Ordinal),
            Patience, "the device to fetch the config set after the certificate changed and report its item. Agent output:\n" + agent.Output);
    }

    [Fact]
    public async Task Onboarding_create_writes_the_given_server_and_refuses_one_no_device_could_use()
    {
        await StartControllerAsync("controller.example.test");
        var defaulted = await OutpostBinary.RunAsync(_root, ["onboarding", "create", "--serial", "ADV-0002", "--out", Path.Combine(_root, "a"), .. AdminFlags]);
        Assert.True(defaulted.ExitCode == 0, defaulted.Output + defaulted.Error);
        Assert.Equal($"controller.example.test:{_port}\n", await File.ReadAllTextAsync(Path.Combine(_root, "a", "server")));

        var given = await OutpostBinary.RunAsync(_root,
            ["onboarding", "create", "--serial", "ADV-0003", "--out", Path.Combine(_root, "b"), "--server", "10.0.2.2", .. AdminFlags]);
        Assert.True(given.ExitCode == 0, given.Output + given.Error);
        Assert.Equal($"10.0.2.2:{_port}\n", await File.ReadAllTextAsync(Path.Combine(_root, "b", "server")));

        var bad = await OutpostBinary.RunAsync(_root,
            ["onboarding", "create", "--serial", "ADV-0004", "--out", Path.Combine(_root, "c"), "--server", "bad_name:8443", .. AdminFlags]);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("error: 'bad_name' is neither a DNS name nor an IP address", bad.Error);
        Assert.False(Directory.Exists(Path.Combine(_root, "c")), "a refused --server must not leave a config folder behind");
    }

    [Theory]
    [InlineData("controller.example.test,,10.0.2.2", "has an empty entry (number 2)")]
    [InlineData("not_a_name", "'not_a_name' is neither a DNS name nor an IP address")]
    public async Task Controller_with_an_advertised_entry_no_device_could_use_exits_with_what_to_give(string advertise, string expected)
    {
        var result = await OutpostBinary.RunAsync(_root, "controller", "--data", ControllerData, "--listen", $"127.0.0.1:{_port}", "--advertise", advertise);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: ", result.Error);
        Assert.Contains(expected, result.Error);
        Assert.False(File.Exists(Path.Combine(ControllerData, "controller.url")), "the controller must not have started");
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
