using System.Net.Http.Json;
using System.Text.Json;
using Outpost.Controller.Apps;

namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>
/// One controller, one onboarded agent (real `outpost` processes, short timers) and one docker-registry, shared by a
/// test class. Images are built locally and pushed with `outpost image push`; apps are driven with `outpost app …`.
/// </summary>
public class AppCluster : IAsyncLifetime
{
    public const string Serial = "E2E-APPS-0001";
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(150);

    private readonly List<OutpostDaemon> _agents = [];
    private OutpostDaemon? _controller;

    public string Root { get; } = Directory.CreateTempSubdirectory("outpost-e2e-apps-").FullName;

    public int Port { get; } = OutpostBinary.FreePort();

    public string ControllerData => Path.Combine(Root, "controller");

    public string ConfigDir => Path.Combine(Root, "device", "config");

    public string StateDir => Path.Combine(Root, "device", "state");

    /// <summary>Where test images are built before they are pushed.</summary>
    public string ImagesLayout => Path.Combine(Root, "images");

    public RegistryServer Registry { get; private set; } = null!;

    public AdminHttp Admin { get; private set; } = null!;

    public DeviceView Device { get; private set; } = null!;

    public OutpostDaemon Agent => _agents[^1];

    public virtual async Task InitializeAsync()
    {
        ExternalTools.Require("runc");
        Registry = await RegistryServer.StartAsync();
        _controller = OutpostDaemon.Start(Root, "controller", "--data", ControllerData, "--listen", $"127.0.0.1:{Port}",
            "--default-config-item", "timer.config.interval=3", "--default-config-item", "timer.metric.interval=5");
        await _controller.WaitForOutputAsync("listening on", Patience);
        await CliOkAsync("onboarding", "create", "--serial", Serial, "--out", ConfigDir);
        StartAgent();
        Admin = new AdminHttp(ControllerData);
        await Eventually.TrueAsync(async () =>
        {
            Device = (await Admin.DevicesAsync()).SingleOrDefault(d => d.Serial == Serial && d.Hostname is not null)!;
            return Device is not null;
        }, Patience, "the device to come online");
    }

    /// <summary>Arguments every agent of this cluster gets beyond its config and state folders.</summary>
    protected virtual IReadOnlyList<string> AgentArguments => [];

    public OutpostDaemon StartAgent()
    {
        var agent = OutpostDaemon.Start(Root, ["agent", "--config", ConfigDir, "--state", StateDir, .. AgentArguments]);
        _agents.Add(agent);
        return agent;
    }

    /// <summary>Runs an admin command against this cluster's controller and returns the result (any exit code).</summary>
    public Task<CliResult> CliAsync(params string[] arguments) =>
        OutpostBinary.RunAsync(Root, [.. arguments, "--controller", $"https://127.0.0.1:{Port}/", "--token-file", Path.Combine(ControllerData, "admin.token"),
            "--ca-file", Path.Combine(ControllerData, "pki", "root-certificate.pem")]);

    public async Task<string> CliOkAsync(params string[] arguments)
    {
        var result = await CliAsync(arguments);
        Assert.True(result.ExitCode == 0, $"outpost {string.Join(' ', arguments)} exited {result.ExitCode}:\n{result.Output}\n{result.Error}");
        return result.Output;
    }

    /// <summary>`outpost image push DIR:TAG REF` (no controller flags: push talks to the registry only).</summary>
    public async Task<string> PushAsync(string tag, string reference, params string[] extra)
    {
        var result = await OutpostBinary.RunAsync(Root, ["image", "push", $"{ImagesLayout}:{tag}", reference, .. extra]);
        Assert.True(result.ExitCode == 0, $"image push {tag} → {reference} exited {result.ExitCode}:\n{result.Output}\n{result.Error}");
        return result.Output;
    }

    public Task<string> DeployAsync(string name, string image, params string[] extra) =>
        CliOkAsync(["app", "deploy", "--device", Serial, "--name", name, "--image", image, "--memory", "64M", .. extra]);

    public async Task<List<AppView>> AppsAsync() =>
        (await Admin.Http.GetFromJsonAsync<List<AppView>>($"api/admin/devices/{Device.Id}/apps", JsonSerializerOptions.Web))!;

    public async Task<AppView?> AppAsync(string name) => (await AppsAsync()).SingleOrDefault(a => a.Name == name);

    /// <summary>Waits for <paramref name="name"/> to reach <paramref name="state"/>; the failure says where it got stuck.</summary>
    public async Task<AppView> WaitForStateAsync(string name, string state)
    {
        var deadline = DateTime.UtcNow + Patience;
        AppView? app = null;
        while (DateTime.UtcNow < deadline)
        {
            app = await AppAsync(name);
            if (app?.State == state)
            {
                return app;
            }

            await Task.Delay(500);
        }

        throw new TimeoutException($"Expected app {name} to be {state} within {Patience.TotalSeconds:0} s; it is {app?.State ?? "absent"} (errors: {string.Join("; ", app?.Errors ?? [])}).\nAgent output:\n{Tail(Agent.Output)}");
    }

    /// <summary>The app's console lines as the controller stores them (trimmed).</summary>
    public async Task<List<string>> AppLogAsync(string name)
    {
        var app = await AppAsync(name) ?? throw new InvalidOperationException($"no app {name}");
        return (await Admin.LogsAsync(Device.Id.ToString(), app.Id.ToString())).Select(l => l.Content.Trim()).ToList();
    }

    public async Task WaitForLogAsync(string name, Func<List<string>, bool> condition, string what) =>
        await Eventually.TrueAsync(async () => condition(await AppLogAsync(name)), Patience, what);

    /// <summary>Numbers of the greetings the app printed so far (e.g. 1, 2, 3, 1, 2 after a restart).</summary>
    public async Task<List<int>> GreetingNumbersAsync(string name) =>
        (await AppLogAsync(name)).Where(l => l.StartsWith(TestImages.Greeting + " ", StringComparison.Ordinal))
            .Select(l => int.TryParse(l[(TestImages.Greeting.Length + 1)..], out var n) ? n : -1).Where(n => n > 0).ToList();

    private static string Tail(string text) => text.Length > 4000 ? text[^4000..] : text;

    public virtual async Task DisposeAsync()
    {
        // Stopping the agent cleanly lets it stop its containers; then remove what is left of the apps.
        foreach (var agent in _agents)
        {
            await agent.StopAsync();
            await agent.DisposeAsync();
        }

        if (_controller is not null)
        {
            await _controller.DisposeAsync();
        }

        Admin?.Dispose();
        Registry?.Dispose();
        await RuncLeftovers.RemoveAsync(StateDir);
        Directory.Delete(Root, recursive: true);
    }
}
