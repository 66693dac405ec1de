using Outpost.Cli.Admin;
using Outpost.Cli.Commands;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;
using Outpost.Controller.Registry;
using Spectre.Console;

namespace Outpost.Cli.Demo;

/// <summary>
/// The demo's container app: the sample image served by the controller's own registry, a datastore pointing back at
/// the controller (trusting its root), and the app `hello` deployed to the demo device — each step reused on re-runs.
/// </summary>
internal sealed class DemoApp(AdminClient admin, string controllerDirectory, TextWriter output)
{
    public const string AppName = "hello";
    public const string DatastoreName = "outpost-demo";
    private static readonly TimeSpan RunningTimeout = TimeSpan.FromSeconds(180);

    /// <summary>The lab's datastore: the same registry as seen from a QEMU guest (user networking maps 10.0.2.2 to the host).</summary>
    public const string LabDatastoreName = "outpost-lab";

    /// <summary>
    /// Builds the image and saves the datastore; false (with one line said) when busybox is missing. <paramref name="host"/>
    /// is how devices reach the controller (the lab's guests: 10.0.2.2).
    /// </summary>
    public async Task<bool> PrepareAsync(int port, CancellationToken ct, string host = "127.0.0.1", string datastoreName = DatastoreName)
    {
        if (!DemoSampleImage.CanBuild)
        {
            output.WriteLine($"No {DemoSampleImage.BusyboxPath}: skipping the sample app. Install it with `apt-get install busybox-static` and run the demo again.");
            return false;
        }

        output.WriteLine($"Building the sample image {DemoSampleImage.Repository}:{DemoSampleImage.Tag} into the controller's registry ...");
        await DemoSampleImage.EnsureAsync(Path.Combine(controllerDirectory, RegistryEndpoints.LayoutFolder), ct);
        // Saved on every run: the port may have changed, and saving updates the devices that use it.
        var rootPem = await File.ReadAllTextAsync(Path.Combine(controllerDirectory, "pki", "root-certificate.pem"), ct);
        await admin.PostAsync<DatastoreView>("api/admin/datastores",
            new CreateDatastoreRequest(datastoreName, $"docker://{host}:{port}", null, null, rootPem), ct);
        return true;
    }

    /// <summary>Deploys `hello` unless the device already has it, then waits until it runs and its first line arrives.</summary>
    public async Task<AppView> DeployAndWaitAsync(DeviceView device, int port, CancellationToken ct)
    {
        var appsPath = $"api/admin/devices/{device.Id}/apps";
        var existing = (await admin.GetAsync<List<AppView>>(appsPath, ct)).FirstOrDefault(a => a.Name == AppName);
        if (existing is null)
        {
            output.WriteLine($"Deploying app {AppName} ({DemoSampleImage.Repository}:{DemoSampleImage.Tag}) to {device.Serial} ...");
            await admin.PostAsync<AppView>(appsPath, new DeployAppRequest(AppName,
                $"127.0.0.1:{port}/{DemoSampleImage.Repository}:{DemoSampleImage.Tag}", 64L * 1024 * 1024, 1, null, null, DatastoreName), ct);
        }
        else if (!existing.Activate)
        {
            await admin.PostAsync<AppView>($"{appsPath}/{AppName}/start", new { }, ct);
        }

        output.WriteLine($"Waiting for {AppName} to run and print its first line (up to {RunningTimeout.TotalSeconds:0} s) ...");
        var deadline = DateTime.UtcNow + RunningTimeout;
        while (true)
        {
            var app = await admin.GetAsync<AppView>($"{appsPath}/{AppName}", ct);
            if (app.State == "RUNNING" && await HasGreetingAsync(device, app, ct))
            {
                return app;
            }

            if (DateTime.UtcNow > deadline)
            {
                var reason = app.Errors.Count > 0 ? string.Join("; ", app.Errors) : "no error reported";
                throw new CliException($"App {AppName} is {app.State} after {RunningTimeout.TotalSeconds:0} s ({reason}). See the agent log, and `outpost app show {AppName} --device {device.Serial}`.");
            }

            await Task.Delay(500, ct);
        }
    }

    public void Render(IReadOnlyList<AppView> apps, string serial)
    {
        var table = new Table().AddColumns("Name", "Image", "State", "Memory", "Errors");
        foreach (var app in apps)
        {
            table.AddRow(Markup.Escape(app.Name), Markup.Escape(app.Image), app.State, $"{app.MemoryBytes / (1024 * 1024)}M", Markup.Escape(string.Join("; ", app.Errors)));
        }

        AnsiConsole.Write(table);
        output.WriteLine($"Follow its output: outpost app logs {AppName} --device {serial} --follow");
    }

    private async Task<bool> HasGreetingAsync(DeviceView device, AppView app, CancellationToken ct)
    {
        var lines = await admin.GetAsync<List<LogView>>($"api/admin/devices/{device.Id}/logs?app={app.Id}&limit=1000", ct);
        return lines.Any(l => l.Content.Contains(DemoSampleImage.Greeting, StringComparison.Ordinal));
    }
}
