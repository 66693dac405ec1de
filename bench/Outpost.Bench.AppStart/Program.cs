using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Outpost.Bench.AppStart;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;
using Outpost.Image.Layouts;

// Time from "the agent applied the config naming a new app" to "the controller shows it RUNNING", with real controller
// and agent processes: once with a cold pull (the image is new to the device) and then with the image already cached.
// The image is served by the controller's own registry, as in `outpost demo`. Usage: Outpost.Bench.AppStart [cached-rounds=3]
var cachedRounds = args.Length > 0 ? int.Parse(args[0]) : 3;
var root = Directory.CreateTempSubdirectory("outpost-bench-appstart-").FullName;
var controllerData = Path.Combine(root, "controller");
int port;
using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
{
    listener.Start();
    port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
}

var stateDir = Path.Combine(root, "device", "state");
var controller = OutpostChild.Start(root, "controller", "--data", controllerData, "--listen", $"127.0.0.1:{port}", "--default-config-item", "timer.config.interval=1");
OutpostChild? agent = null;
try
{
    await controller.WaitForOutputAsync("listening on", TimeSpan.FromSeconds(60));
    string[] adminFlags = ["--controller", $"https://127.0.0.1:{port}/", "--token-file", Path.Combine(controllerData, "admin.token"), "--ca-file", Path.Combine(controllerData, "pki", "root-certificate.pem")];
    await OutpostChild.RunAsync(root, ["onboarding", "create", "--serial", "BENCH-0001", "--out", Path.Combine(root, "device", "config"), .. adminFlags]);
    agent = OutpostChild.Start(root, "agent", "--config", Path.Combine(root, "device", "config"), "--state", stateDir);

    using var admin = AdminHttpClient(controllerData, port);
    DeviceView? device = null;
    while (device is null)
    {
        device = (await admin.GetFromJsonAsync<List<DeviceView>>("api/admin/devices", JsonSerializerOptions.Web))!.FirstOrDefault(d => d.Online && d.Hostname is not null);
        await Task.Delay(100);
    }

    var builder = new OciLayoutBuilder().AddHostFile("bin/busybox", "/bin/busybox", 0b111_101_101).AddSymlink("bin/sh", "busybox").AddSymlink("bin/sleep", "busybox");
    builder.Entrypoint = ["/bin/sh", "-c", "echo started; while true; do sleep 1; done"];
    await builder.WriteAsync(Path.Combine(controllerData, "registry"), "bench/app:1", CancellationToken.None);
    var rootPem = await File.ReadAllTextAsync(Path.Combine(controllerData, "pki", "root-certificate.pem"));
    (await admin.PostAsJsonAsync("api/admin/datastores", new CreateDatastoreRequest("self", $"docker://127.0.0.1:{port}", null, null, rootPem))).EnsureSuccessStatusCode();

    var results = new List<(string Case, double FromConfigMs, double FromDeployMs)>();
    for (var round = 0; round <= cachedRounds; round++)
    {
        var name = round == 0 ? "cold" : $"cached{round}";
        var deployedAt = DateTimeOffset.UtcNow;
        var watch = Stopwatch.StartNew();
        (await admin.PostAsJsonAsync($"api/admin/devices/{device.Id}/apps",
            new DeployAppRequest(name, $"127.0.0.1:{port}/bench/app:1", 64L * 1024 * 1024, 1, null, null, "self"))).EnsureSuccessStatusCode();
        while (true)
        {
            var apps = (await admin.GetFromJsonAsync<List<AppView>>($"api/admin/devices/{device.Id}/apps", JsonSerializerOptions.Web))!;
            var app = apps.Single(a => a.Name == name);
            if (app.State == "RUNNING")
            {
                break;
            }

            if (app.State == "ERROR" || watch.Elapsed > TimeSpan.FromMinutes(2))
            {
                var log = agent.Output;
                throw new InvalidOperationException($"{name} is {app.State}: {string.Join("; ", app.Errors)}. Agent log (end):\n{log[Math.Max(0, log.Length - 3000)..]}");
            }

            await Task.Delay(20);
        }

        var runningAt = deployedAt + watch.Elapsed;
        var seenAt = agent.FirstLineAfter("Applied config", deployedAt) ?? deployedAt;
        results.Add((name, (runningAt - seenAt).TotalMilliseconds, watch.Elapsed.TotalMilliseconds));
    }

    Console.WriteLine("case       config applied → RUNNING   deploy call → RUNNING (incl. 1 s config poll)");
    foreach (var (name, fromConfig, fromDeploy) in results)
    {
        Console.WriteLine($"{name,-10} {fromConfig,18:0} ms   {fromDeploy,18:0} ms");
    }
}
finally
{
    agent?.Dispose();
    controller.Dispose();
    foreach (var runcRoot in Directory.Exists(stateDir) ? Directory.EnumerateDirectories(stateDir, "runc", SearchOption.AllDirectories).ToList() : [])
    {
        using var list = Process.Start(new ProcessStartInfo("runc", ["--root", runcRoot, "list", "-q"]) { RedirectStandardOutput = true })!;
        foreach (var id in (await list.StandardOutput.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var delete = Process.Start("runc", ["--root", runcRoot, "delete", "--force", id.Trim()]);
            await delete.WaitForExitAsync();
        }
    }

    // Overlay rootfs mounts stay after the agent is gone; detach them before removing the folder.
    foreach (var mountPoint in File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')[1]).Where(m => m.StartsWith(root + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Length))
    {
        using var umount = Process.Start("umount", ["-l", mountPoint]);
        await umount.WaitForExitAsync();
    }

    Directory.Delete(root, recursive: true);
}

static HttpClient AdminHttpClient(string controllerData, int port)
{
    var rootCertificate = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(controllerData, "pki", "root-certificate.pem")));
    var handler = new SocketsHttpHandler();
    handler.SslOptions.RemoteCertificateValidationCallback = Outpost.Api.Certificates.PrivateRootTrust.Callback(rootCertificate);
    var http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}/") };
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(controllerData, "admin.token")).Trim());
    return http;
}
