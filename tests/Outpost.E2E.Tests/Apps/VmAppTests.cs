using System.Text.Json;
using Outpost.Agent.Tests.Fixtures;
using Outpost.E2E.Tests.Apps.Infrastructure;

namespace Outpost.E2E.Tests.Apps;

/// <summary>
/// A VM app's whole life through the CLI, on a real controller, registry and agent, under real QEMU: the test guest's
/// UEFI disk pushed as a disk artifact, deployed with cloud-init, booted, logged, measured, restarted, purged,
/// stopped and deleted; and a container image isolated in a VM of its own. One class, one cluster, so its four boots
/// are the only ones (TCG is slow).
/// </summary>
public sealed class VmAppTests(VmCluster cluster) : IClassFixture<VmCluster>
{
    private const string Serial = AppCluster.Serial;
    private const string Name = "vm-e2e";

    [Fact]
    public async Task A_pushed_disk_boots_as_a_vm_reads_its_cloud_init_logs_its_console_reports_metrics_and_restarts_purges_stops_and_is_deleted()
    {
        var disk = await TestGuest.BuildUefiDiskAsync(CancellationToken.None);
        var reference = $"{cluster.Registry.Host}/e2e/test-guest:1";
        // No controller flags: push-disk talks to the registry only.
        var pushed = await OutpostBinary.RunAsync(cluster.Root, "image", "push-disk", disk, "--format", "raw", reference);
        Assert.True(pushed.ExitCode == 0, pushed.Output + pushed.Error);

        // A marker only this run can have, so the guest can only print it if it read this app's seed.
        var marker = $"outpost-e2e-{Guid.NewGuid():N}";
        var userData = Path.Combine(cluster.Root, "user-data");
        await File.WriteAllTextAsync(userData, $"#cloud-config\nmarker: {marker}\n");
        var deployed = await cluster.CliOkAsync("app", "deploy", "--device", Serial, "--name", Name, "--image", reference,
            "--vm", "--uefi", "--disk-format", "raw", "--memory", "256MiB", "--cloud-init", userData, "--console", "--vnc");
        Assert.Contains($"Deployed VM {Name}", deployed);

        await cluster.WaitForStateAsync(Name, "RUNNING");
        var app = (await cluster.AppAsync(Name))!;
        Assert.Equal(256, app.Vm!.MemoryMiB);

        // The serial console is the app's log; what the guest printed proves what QEMU gave it.
        await cluster.WaitForLogAsync(Name, lines => lines.Any(l => l.EndsWith(TestGuest.ReadyLine, StringComparison.Ordinal)), "the guest's ready line");
        await cluster.WaitForLogAsync(Name, lines => lines.Any(l => l.EndsWith($"user-data: marker: {marker}", StringComparison.Ordinal)), "the cloud-init marker read from the seed");
        var log = await cluster.AppLogAsync(Name);
        Assert.Contains(log, l => l.EndsWith($"cidata instance-id={app.Id} hostname={Name}", StringComparison.Ordinal));
        var memoryKib = log.Select(l => l.Split("memory-kib=")).Where(p => p.Length == 2).Select(p => long.Parse(p[1])).First();
        // MemTotal is the guest's RAM less what its kernel keeps: below 256 MiB, far above a default 128 MiB machine.
        Assert.InRange(memoryKib, 200_000, 256 * 1024);

        // The remote console: through the controller and the device's own outbound tunnel, to the guest's shell.
        var answer = await ConsoleAnswerAsync("echo $((6*7))-typed-through-the-controller", "42-typed-through-the-controller");
        Assert.Contains("42-typed-through-the-controller", answer);

        // VNC over the same tunnel: QEMU's VNC server greets with its RFB version, as a noVNC client would see.
        Assert.Equal("RFB 003.008\n", await VncGreetingAsync());

        await Eventually.TrueAsync(async () => UsedMemoryMb(await cluster.Admin.MetricsAsync(cluster.Device.Id.ToString()), app.Id) > 0,
            AppCluster.Patience, "a metrics report with the VM's memory");

        // Restart and purge boot the guest again; purge also makes the writable disk again from the image.
        await cluster.CliOkAsync("app", "restart", Name, "--device", Serial);
        await cluster.WaitForLogAsync(Name, lines => ReadyLines(lines) >= 2, "the guest to boot again after restart");
        await cluster.WaitForStateAsync(Name, "RUNNING");
        await cluster.CliOkAsync("app", "purge", Name, "--device", Serial);
        await cluster.WaitForLogAsync(Name, lines => ReadyLines(lines) >= 3, "the guest to boot again after purge");
        await cluster.WaitForStateAsync(Name, "RUNNING");

        await cluster.CliOkAsync("app", "stop", Name, "--device", Serial);
        await cluster.WaitForStateAsync(Name, "HALTED");
        // HALTED means QEMU is gone (the guest ignores ACPI powerdown, so the agent had to quit it), not just paused.
        Assert.DoesNotContain(await RuncLeftovers.RunningAsync(cluster.StateDir), running => running.Contains(app.Id.ToString(), StringComparison.Ordinal));

        // The device itself refuses a session to a console that is not up, and says why.
        var (exitCode, errors) = await ConsoleRefusalAsync();
        Assert.Equal(1, exitCode);
        Assert.Contains($"the serial console of app {Name} is not up", errors);

        await cluster.CliOkAsync("app", "delete", Name, "--device", Serial);
        Assert.Null(await cluster.AppAsync(Name));
        await Eventually.TrueAsync(() => Task.FromResult(!Directory.Exists(Path.Combine(cluster.StateDir, "vms", app.Id.ToString()))),
            AppCluster.Patience, "the VM's folder (overlay, seed, QMP socket) to be removed");
    }

    [Fact]
    public async Task A_container_image_deployed_with_vm_isolation_runs_in_its_own_vm_logs_its_output_and_stops_and_is_deleted()
    {
        const string name = "box-in-vm";
        var reference = $"{cluster.Registry.Host}/e2e/hello-in-vm:1";
        await TestImages.HelloAsync(cluster.ImagesLayout, "hello-in-vm");
        await cluster.PushAsync("hello-in-vm", reference);

        var deployed = await cluster.CliOkAsync("app", "deploy", "--device", Serial, "--name", name, "--image", reference, "--isolation", "vm", "--memory", "128M");
        Assert.Contains($"Deployed app (in a VM of its own) {name}", deployed);
        Assert.Equal("vm", (await cluster.AppAsync(name))!.Isolation);
        await cluster.WaitForStateAsync(name, "RUNNING");
        // The image's own loop, printed inside the guest on its serial console, arrives as the app's log.
        await cluster.WaitForLogAsync(name, lines => lines.Any(l => l.EndsWith($"{TestImages.Greeting} 2", StringComparison.Ordinal)), "the container's greetings from inside its VM");
        var app = (await cluster.AppAsync(name))!;
        var vmDirectory = Path.Combine(cluster.StateDir, "vms", app.Id.ToString());
        Assert.True(Directory.Exists(vmDirectory), "the app runs under the QEMU driver, not runc");

        // QEMU itself crashes: the device reports it and, by the default policy (always), boots the container again.
        var qemu = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(vmDirectory, "vm.json"))).RootElement.GetProperty("QemuPid").GetInt32();
        System.Diagnostics.Process.GetProcessById(qemu).Kill();
        await cluster.WaitForLogAsync(name, lines => lines.Count(l => l.EndsWith($"{TestImages.Greeting} 1", StringComparison.Ordinal)) >= 2,
            "the container's greetings to start over after QEMU was killed");
        await cluster.WaitForStateAsync(name, "RUNNING");

        await cluster.CliOkAsync("app", "stop", name, "--device", Serial);
        await cluster.WaitForStateAsync(name, "HALTED");
        Assert.DoesNotContain(await RuncLeftovers.RunningAsync(cluster.StateDir), running => running.Contains(app.Id.ToString(), StringComparison.Ordinal));
        await cluster.CliOkAsync("app", "delete", name, "--device", Serial);
        await Eventually.TrueAsync(() => Task.FromResult(!Directory.Exists(Path.Combine(cluster.StateDir, "vms", app.Id.ToString()))),
            AppCluster.Patience, "the container VM's folder to be removed");
    }

    [Fact]
    public async Task A_vm_given_a_kernel_and_initrd_boots_them_directly_with_its_kernel_args()
    {
        const string name = "vm-direct";
        var guest = await TestGuest.BuildAsync(CancellationToken.None);
        var disk = await TestGuest.BuildUefiDiskAsync(CancellationToken.None);
        var prefix = $"{cluster.Registry.Host}/e2e/direct";
        foreach (var (file, what) in new[] { (disk, "disk"), (guest.KernelPath, "vmlinuz"), (guest.InitrdPath, "initrd") })
        {
            var pushed = await OutpostBinary.RunAsync(cluster.Root, "image", "push-disk", file, "--format", "raw", $"{prefix}-{what}:1");
            Assert.True(pushed.ExitCode == 0, pushed.Output + pushed.Error);
        }

        // Legacy BIOS cannot start the disk's UEFI loader: only a direct boot of the kernel reaches the guest's init.
        await cluster.CliOkAsync("app", "deploy", "--device", Serial, "--name", name, "--image", $"{prefix}-disk:1", "--vm", "--disk-format", "raw",
            "--memory", "256MiB", "--kernel", $"{prefix}-vmlinuz:1", "--initrd", $"{prefix}-initrd:1", "--kernel-args", "console=ttyS0 quiet");
        Assert.Equal($"{prefix}-vmlinuz:1", (await cluster.AppAsync(name))!.Vm!.Kernel);
        await cluster.WaitForStateAsync(name, "RUNNING");
        await cluster.WaitForLogAsync(name, lines => lines.Any(l => l.EndsWith(TestGuest.ReadyLine, StringComparison.Ordinal)), "the directly booted guest's ready line");
        await cluster.CliOkAsync("app", "delete", name, "--device", Serial);
        Assert.Null(await cluster.AppAsync(name));
    }

    [Fact]
    public async Task A_vm_asking_for_more_memory_than_the_device_has_is_an_error_with_the_reason_and_a_running_app_is_untouched()
    {
        var reference = $"{cluster.Registry.Host}/e2e/hello-beside-vm:1";
        await TestImages.HelloAsync(cluster.ImagesLayout, "hello-beside-vm");
        await cluster.PushAsync("hello-beside-vm", reference);
        await cluster.CliOkAsync("app", "deploy", "--device", Serial, "--name", "beside", "--image", reference);
        await cluster.WaitForStateAsync("beside", "RUNNING");
        var disk = await TestGuest.BuildUefiDiskAsync(CancellationToken.None);
        var diskReference = $"{cluster.Registry.Host}/e2e/test-guest-huge:1";
        var pushed = await OutpostBinary.RunAsync(cluster.Root, "image", "push-disk", disk, "--format", "raw", diskReference);
        Assert.True(pushed.ExitCode == 0, pushed.Output + pushed.Error);

        await cluster.CliOkAsync("app", "deploy", "--device", Serial, "--name", "huge", "--image", diskReference, "--vm", "--uefi", "--disk-format", "raw", "--memory", "1TiB");

        var refused = await cluster.WaitForStateAsync("huge", "ERROR");
        Assert.Contains(refused.Errors, e => e.Contains("asks for 1048576 MiB of memory but this device has", StringComparison.Ordinal));
        var greetings = (await cluster.GreetingNumbersAsync("beside")).Count;
        await Eventually.TrueAsync(async () => (await cluster.GreetingNumbersAsync("beside")).Count > greetings + 2, AppCluster.Patience, "the other app to go on greeting");
        Assert.Equal("RUNNING", (await cluster.AppAsync("beside"))!.State);
        Assert.Equal(1, (await cluster.GreetingNumbersAsync("beside")).Count(n => n == 1));
        await cluster.CliOkAsync("app", "delete", "huge", "--device", Serial);
        await cluster.CliOkAsync("app", "delete", "beside", "--device", Serial);
    }

    /// <summary>
    /// Runs `outpost app console` with its input on a pipe, types <paramref name="command"/> until
    /// <paramref name="expected"/> comes back (what is typed before the guest's shell reads ttyS0 is lost), then ends
    /// the input, which ends the session; returns what the console printed.
    /// </summary>
    private async Task<string> ConsoleAnswerAsync(string command, string expected)
    {
        using var console = System.Diagnostics.Process.Start(ConsoleStartInfo())!;
        var output = new System.Text.StringBuilder();
        var errors = console.StandardError.ReadToEndAsync();
        var reading = Task.Run(async () =>
        {
            var buffer = new char[4096];
            int read;
            while ((read = await console.StandardOutput.ReadAsync(buffer)) > 0)
            {
                lock (output)
                {
                    output.Append(buffer, 0, read);
                }
            }
        });
        try
        {
            await Eventually.TrueAsync(async () =>
            {
                if (console.HasExited)
                {
                    throw new InvalidOperationException($"outpost app console exited {console.ExitCode}: {await errors}");
                }

                await console.StandardInput.WriteAsync(command + "\n");
                await console.StandardInput.FlushAsync();
                await Task.Delay(1000);
                lock (output)
                {
                    return output.ToString().Split('\n').Any(line => line.Trim() == expected);
                }
            }, AppCluster.Patience, $"'{expected}' back through the remote console");
            console.StandardInput.Close();
            await console.WaitForExitAsync().WaitAsync(AppCluster.Patience);
            Assert.True(console.ExitCode == 0, $"outpost app console exited {console.ExitCode}: {await errors}");
            await reading;
            Assert.Contains("Connected to the serial console of " + Name, await errors);
            return output.ToString();
        }
        finally
        {
            if (!console.HasExited)
            {
                console.Kill();
            }
        }
    }

    /// <summary>`outpost app console` with its input held open (so only the far side can end it): its exit code and stderr.</summary>
    private async Task<(int ExitCode, string Errors)> ConsoleRefusalAsync()
    {
        using var console = System.Diagnostics.Process.Start(ConsoleStartInfo())!;
        var errors = console.StandardError.ReadToEndAsync();
        var output = console.StandardOutput.ReadToEndAsync();
        try
        {
            try
            {
                await console.WaitForExitAsync().WaitAsync(AppCluster.Patience);
            }
            catch (TimeoutException)
            {
                console.Kill();
                var agent = cluster.Agent.Output;
                throw new TimeoutException($"outpost app console did not end: {await errors}\nAgent output:\n{(agent.Length > 4000 ? agent[^4000..] : agent)}");
            }

            await output;
            return (console.ExitCode, await errors);
        }
        finally
        {
            if (!console.HasExited)
            {
                console.Kill();
            }
        }
    }

    private System.Diagnostics.ProcessStartInfo ConsoleStartInfo()
    {
        var start = OutpostBinary.StartInfo(cluster.Root, ["app", "console", Name, "--device", Serial, "--controller", $"https://127.0.0.1:{cluster.Port}/",
            "--token-file", Path.Combine(cluster.ControllerData, "admin.token"), "--ca-file", Path.Combine(cluster.ControllerData, "pki", "root-certificate.pem")]);
        start.RedirectStandardInput = true;
        return start;
    }

    private async Task<string> VncGreetingAsync()
    {
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        var root = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(
            await File.ReadAllTextAsync(Path.Combine(cluster.ControllerData, "pki", "root-certificate.pem")));
        socket.Options.RemoteCertificateValidationCallback = Outpost.Api.Certificates.PrivateRootTrust.Callback(root);
        socket.Options.SetRequestHeader("Authorization", "Bearer " + (await File.ReadAllTextAsync(Path.Combine(cluster.ControllerData, "admin.token"))).Trim());
        socket.Options.AddSubProtocol("binary");
        await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{cluster.Port}/api/admin/devices/{Serial}/apps/{Name}/vnc"), default);
        using var timeout = new CancellationTokenSource(AppCluster.Patience);
        var buffer = new byte[12];
        var read = 0;
        while (read < buffer.Length)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(read), timeout.Token);
            Assert.NotEqual(System.Net.WebSockets.WebSocketMessageType.Close, result.MessageType);
            read += result.Count;
        }

        await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
        return System.Text.Encoding.ASCII.GetString(buffer);
    }

    private static int ReadyLines(List<string> lines) => lines.Count(l => l.EndsWith(TestGuest.ReadyLine, StringComparison.Ordinal));

    /// <summary>The app's usedMem (MB) in the newest report that has it, or 0.</summary>
    private static long UsedMemoryMb(List<MetricView> metrics, Guid appId)
    {
        foreach (var metric in metrics.OrderByDescending(m => m.DeviceTimestamp))
        {
            if (!metric.Message.TryGetProperty("am", out var apps))
            {
                continue;
            }

            foreach (var appMetric in apps.EnumerateArray())
            {
                if (appMetric.TryGetProperty("AppID", out var id) && id.GetString() == appId.ToString()
                    && appMetric.TryGetProperty("memory", out var memory) && memory.TryGetProperty("usedMem", out var used))
                {
                    return used.ValueKind == JsonValueKind.String ? long.Parse(used.GetString()!) : used.GetInt64();
                }
            }
        }

        return 0;
    }
}
