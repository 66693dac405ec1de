using Outpost.Cli.Admin;
using Outpost.Cli.Commands;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;

namespace Outpost.Cli.Demo;

/// <summary>
/// `outpost demo`: a controller and an onboarded agent as child processes under one data folder, like
/// `k3s server` on a laptop, plus a sample container app served by the controller's own registry. Re-running
/// reuses the folder (same PKI, same device identity, same app).
/// </summary>
internal sealed class DemoRunner(string dataDirectory, int port, string serial, TextWriter output)
{
    private static readonly TimeSpan OnlineTimeout = TimeSpan.FromSeconds(90);

    private string ControllerDirectory => Path.Combine(dataDirectory, "controller");

    private string ConfigDirectory => Path.Combine(dataDirectory, "device", "config");

    private string StateDirectory => Path.Combine(dataDirectory, "device", "state");

    public async Task<int> RunAsync(bool once, CancellationToken ct)
    {
        await using var controller = await LocalController.StartAsync(ControllerDirectory, Path.Combine(dataDirectory, "controller.log"), port,
            detached: false, [], output, ct);
        var location = ControllerLocation.OfDataDirectory(ControllerDirectory);
        var listenPort = location.BaseAddress.Port;
        using var admin = new AdminClient(location);
        await OnboardAsync(admin, ct);
        var app = new DemoApp(admin, ControllerDirectory, output);
        var withApp = await app.PrepareAsync(listenPort, ct);

        output.WriteLine($"Starting agent (config {ConfigDirectory}, state {StateDirectory}) ...");
        await using var agent = OutpostProcess.Start(
            // The demo is a sandbox: when it ends, its apps end with it.
            ["agent", "--config", ConfigDirectory, "--state", StateDirectory, "--stop-apps-on-exit"],
            Path.Combine(dataDirectory, "agent.log"));

        DeviceView? device = null;
        await agent.WaitForAsync(async () =>
        {
            var devices = await admin.GetAsync<List<DeviceView>>("api/admin/devices", ct);
            device = devices.FirstOrDefault(d => (d.Serial == serial || d.SoftSerial == serial) && d.Online && d.Hostname is not null);
            return device is not null;
        }, "the device to come online with its info", OnlineTimeout, ct);

        output.WriteLine();
        DeviceCommand.RenderDeviceList(await admin.GetAsync<List<DeviceView>>("api/admin/devices", ct));
        DeviceCommand.RenderDeviceDetail(await admin.GetJsonAsync($"api/admin/devices/{device!.Id}", ct));
        output.WriteLine();
        output.WriteLine($"Admin API:   {location.BaseAddress}api/admin/ (OpenAPI: {location.BaseAddress}api/admin/openapi/admin.json)");
        output.WriteLine($"Admin token: {Path.Combine(ControllerDirectory, "admin.token")}");
        output.WriteLine($"Logs:        {controller.LogPath}, {agent.LogPath}");
        output.WriteLine("Try: outpost device list | outpost device show " + serial + " | outpost device logs " + serial);

        if (withApp)
        {
            try
            {
                await app.DeployAndWaitAsync(device, listenPort, ct);
                output.WriteLine();
                app.Render(await admin.GetAsync<List<AppView>>($"api/admin/devices/{device.Id}/apps", ct), serial);
            }
            catch (CliException e) when (!once)
            {
                // Interactive: say what went wrong and keep the controller and agent up for a look around.
                output.WriteLine($"warning: {e.Message}");
            }
        }

        if (once)
        {
            return 0;
        }

        output.WriteLine("Running; press Ctrl-C to stop.");
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException)
        {
        }

        return 0;
    }

    private async Task OnboardAsync(AdminClient admin, CancellationToken ct)
    {
        if (File.Exists(Path.Combine(ConfigDirectory, "onboard.cert.pem")))
        {
            // Same folder as before: only the controller's address may have changed.
            var identity = await admin.GetAsync<ControllerIdentity>("api/admin/controller", ct);
            await File.WriteAllTextAsync(Path.Combine(ConfigDirectory, "server"), identity.Server + "\n", ct);
            return;
        }

        output.WriteLine($"Onboarding device serial {serial} ...");
        await OnboardingBundle.CreateAsync(admin, [serial], "demo", ConfigDirectory, server: null, ct);
    }
}
