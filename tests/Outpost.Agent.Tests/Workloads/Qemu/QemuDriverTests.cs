using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Outpost.Agent.Bus;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;
using Xunit.Abstractions;

namespace Outpost.Agent.Tests.Workloads.Qemu;

/// <summary>
/// The QEMU driver against real qemu-system-x86_64 (TCG) booting the <see cref="TestGuest"/>, whose kernel ignores the
/// ACPI power button. One test walks one VM through its whole life, since every boot under TCG costs seconds.
/// </summary>
public sealed class QemuDriverTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(180);
    private static readonly QemuAccelChoice Tcg = new(QemuAccelerator.Tcg, "tests run under TCG");

    private readonly TempDirectory _temp = new();
    private readonly List<QemuDriver> _drivers = [];
    private readonly List<string> _ids = [];

    [Fact]
    public async Task A_vm_boots_with_its_seed_answers_on_its_console_reports_qmp_metrics_is_adopted_stops_starts_is_reset_and_reports_a_crash()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var ct = cts.Token;
        var guest = await TestGuest.BuildAsync(ct);
        var basePath = Path.Combine(_temp.Path, "base.raw");
        await File.WriteAllBytesAsync(basePath, new byte[16 * 1024 * 1024], ct);
        var baseHash = Hash(basePath);
        var driver = NewDriver();
        var id = NewId();
        var writable = Path.Combine(_temp.Path, "apps", id, "writable");
        // A host serial port passed through (EVE's PhyIoCOM adapter): a host pty, read at its master end.
        using var pty = new HostPty();
        var spec = VmSpec(id, writable, guest, basePath) with { Limits = new WorkloadLimits(256L * 1024 * 1024, 1) };
        spec = spec with { Vm = spec.Vm! with { HostSerialPorts = [pty.SlavePath] } };

        await driver.PrepareAsync(spec, ct);
        Assert.Equal(WorkloadState.Created, (await driver.GetStatusAsync(id, ct)).State);
        var overlay = Path.Combine(writable, "disk0.qcow2");
        var overlayInfo = await QemuImgInfoAsync(overlay, ct);
        Assert.Contains(basePath, overlayInfo, StringComparison.Ordinal);
        Assert.Contains("\"virtual-size\": 33554432", overlayInfo, StringComparison.Ordinal);

        var clock = Stopwatch.StartNew();
        await driver.StartAsync(id, ct);
        var running = await driver.GetStatusAsync(id, ct);
        Assert.Equal(WorkloadState.Running, running.State);
        Assert.NotNull(running.Pid);
        Assert.Contains(running.Warnings, w => w.Contains("TCG", StringComparison.Ordinal));
        // Set up as root, then run as nobody: a guest escaping the emulator owns nothing.
        Assert.Contains(File.ReadLines($"/proc/{running.Pid}/status"), l => l.StartsWith("Uid:\t65534\t65534", StringComparison.Ordinal));

        var console = await WaitForConsoleAsync(driver, id, 0, TestGuest.ReadyLine, ct);
        output.WriteLine($"boot to ready line: {clock.Elapsed.TotalSeconds:F1} s");
        // The guest prints the seed's meta-data, then each user-data line: wait for the last one, then check them all.
        console = await WaitForConsoleAsync(driver, id, 0, "outpost-test-guest: user-data: runcmd: [echo hi]", ct);
        Assert.Contains($"cidata instance-id={id} hostname=vm-one", console, StringComparison.Ordinal);
        Assert.Contains("outpost-test-guest: user-data: #cloud-config", console, StringComparison.Ordinal);
        Assert.Contains("outpost-test-guest: cpus=1", console, StringComparison.Ordinal);

        // The operator's console: a shell on ttyS0 through the socket, the guest writing to its disk meanwhile.
        await WaitForConsoleAsync(driver, id, 0, "shell on ttyS0", ct);
        await GuestConsole.AskAsync(driver.ConsoleSocketPath(id), "echo $((6*7))", "42", TimeSpan.FromSeconds(60));
        await GuestConsole.AskAsync(driver.ConsoleSocketPath(id), "echo written >/dev/vda && sync && echo disk-$((1+1))", "disk-2", TimeSpan.FromSeconds(60));
        Assert.Equal(baseHash, Hash(basePath));
        await GuestConsole.AskAsync(driver.ConsoleSocketPath(id), "echo through-the-host-serial-port >/dev/ttyS1 && echo sent-$((2+3))", "sent-5", TimeSpan.FromSeconds(60));
        await WaitUntilAsync(() => pty.Received.Contains("through-the-host-serial-port", StringComparison.Ordinal), "the guest's ttyS1 line at the host pty");

        var metrics = await driver.GetMetricsAsync(id, ct);
        Assert.NotNull(metrics);
        Assert.True(metrics.CpuNanoseconds > 0, "QEMU used no CPU time?");
        Assert.True(metrics.MemoryUsedBytes > 16 * 1024 * 1024, $"QEMU uses only {metrics.MemoryUsedBytes} bytes?");
        // From QMP: the balloon holds the guest's RAM; the overlay is the 32 MiB disk the guest wrote to, the seed untouched.
        Assert.Equal(256UL * 1024 * 1024, metrics.GuestMemoryBytes);
        var disk = Assert.Single(metrics.Disks, d => d.Name == "disk0.qcow2");
        Assert.Equal((32UL * 1024 * 1024, "qcow2"), (disk.ProvisionedBytes, disk.Format));
        Assert.True(disk.WrittenBytes > 0 && disk.UsedBytes > 0, $"the guest's write is not counted: {disk}");
        Assert.Equal(0UL, Assert.Single(metrics.Disks, d => d.Name == "cidata.img").WrittenBytes);
        if (CgroupV1Memory() is { } memoryRoot)
        {
            // The limit is real: the kernel holds it for QEMU's cgroup, guest RAM plus the driver's overhead.
            var limit = File.ReadAllText(Path.Combine(memoryRoot, "outpost", "vm-" + id, "memory.limit_in_bytes")).Trim();
            Assert.Equal((512L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), limit);
            Assert.Equal(512UL * 1024 * 1024, metrics.MemoryLimitBytes);
            var members = File.ReadAllText(Path.Combine(memoryRoot, "outpost", "vm-" + id, "cgroup.procs"));
            Assert.Contains(running.Pid!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), members.Split('\n'));
        }

        // An agent restart: a new driver over the same state finds the VM running, untouched.
        var adopted = NewDriver();
        Assert.Contains(id, await adopted.ListAsync(ct));
        var adoptedStatus = await adopted.GetStatusAsync(id, ct);
        Assert.Equal(WorkloadState.Running, adoptedStatus.State);
        Assert.Equal(running.Pid, adoptedStatus.Pid);
        Assert.Equal(running.StartedAt, adoptedStatus.StartedAt);

        // This guest ignores the power button: after the grace period QMP quit ends it.
        await adopted.StopAsync(id, TimeSpan.FromSeconds(2), ct);
        var stopped = await adopted.GetStatusAsync(id, ct);
        Assert.Equal(WorkloadState.Stopped, stopped.State);
        Assert.Null(stopped.Pid);
        Assert.False(Process.GetProcesses().Any(p => p.Id == running.Pid), "QEMU still runs after stop");

        // Started again from the same overlay; its console continues after what was already read.
        var before = new FileInfo(Path.Combine(_temp.Path, "state", "vms", id, "console.log")).Length;
        await adopted.StartAsync(id, ct);
        var second = await adopted.GetStatusAsync(id, ct);
        Assert.Equal(WorkloadState.Running, second.State);
        Assert.NotEqual(running.Pid, second.Pid);
        await WaitForConsoleAsync(adopted, id, before, TestGuest.ReadyLine, ct);
        Assert.True(File.Exists(overlay));

        // Restart: the guest ignores the power button, so after the grace period it is reset in the same QEMU.
        var beforeReset = new FileInfo(Path.Combine(_temp.Path, "state", "vms", id, "console.log")).Length;
        await adopted.RestartAsync(id, TimeSpan.FromSeconds(2), ct);
        var reset = await adopted.GetStatusAsync(id, ct);
        Assert.Equal((WorkloadState.Running, second.Pid), (reset.State, reset.Pid));
        Assert.True(reset.StartedAt > second.StartedAt, "a reset is a new start of the guest");
        await WaitForConsoleAsync(adopted, id, beforeReset, TestGuest.ReadyLine, ct);

        // A crash of QEMU itself (SIGKILL) is told apart from a guest power-off.
        Process.GetProcessById(second.Pid!.Value).Kill();
        var crashed = await WaitForStateAsync(adopted, id, WorkloadState.Stopped, ct);
        Assert.Equal(137, crashed.ExitCode);
        Assert.Contains("signal 9", crashed.Message, StringComparison.Ordinal);

        await adopted.DeleteAsync(id, ct);
        Assert.Equal(WorkloadState.NotFound, (await adopted.GetStatusAsync(id, ct)).State);
        Assert.False(Directory.Exists(writable), "the writable overlay outlived the VM");
        Assert.False(Directory.Exists(Path.Combine(_temp.Path, "state", "vms", id)));
        if (CgroupV1Memory() is { } root)
        {
            Assert.False(Directory.Exists(Path.Combine(root, "outpost", "vm-" + id)), "the VM's cgroup outlived it");
        }

        Assert.Equal(baseHash, Hash(basePath));
    }

    [Fact]
    public async Task A_vm_asking_for_more_memory_than_the_host_has_is_refused_before_anything_is_made()
    {
        var driver = NewDriver();
        var id = NewId();
        var writable = Path.Combine(_temp.Path, "apps", id, "writable");
        var spec = VmSpec(id, writable, new TestGuestFiles("/nonexistent/vmlinuz", "/nonexistent/initrd"), null) with
        {
            Limits = new WorkloadLimits(64L * 1024 * 1024 * 1024 * 1024, 1),
        };

        var e = await Assert.ThrowsAsync<WorkloadSpecException>(() => driver.PrepareAsync(spec, CancellationToken.None));
        Assert.Contains("MiB of memory but this device has", e.Message, StringComparison.Ordinal);
        Assert.Equal(WorkloadState.NotFound, (await driver.GetStatusAsync(id, CancellationToken.None)).State);
        Assert.False(Directory.Exists(writable));
    }

    [Fact]
    public async Task A_container_spec_is_refused_by_the_vm_driver()
    {
        var driver = NewDriver();
        var id = NewId();
        var spec = new WorkloadSpec(id, "not-a-vm", ["/nonexistent"], Path.Combine(_temp.Path, "w"), new WorkloadProcess(
            new ImageProcessConfig(ValueList<string>.Empty, ValueList<string>.Empty, ValueList<string>.Empty, null, null)));
        var e = await Assert.ThrowsAsync<WorkloadSpecException>(() => driver.PrepareAsync(spec, CancellationToken.None));
        Assert.Contains("is not a VM", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Qemu_refusing_its_machine_fails_the_start_with_qemus_own_words()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var guest = await TestGuest.BuildAsync(cts.Token);
        var driver = NewDriver();
        var id = NewId();
        var spec = VmSpec(id, Path.Combine(_temp.Path, "apps", id, "writable"), guest, null);
        spec = spec with { Vm = spec.Vm! with { HostSerialPorts = ["/dev/outpost-no-such-serial-port"] } };

        await driver.PrepareAsync(spec, cts.Token);
        var e = await Assert.ThrowsAsync<WorkloadRuntimeException>(() => driver.StartAsync(id, cts.Token));
        Assert.Contains("outpost-no-such-serial-port", e.Message, StringComparison.Ordinal);
        var status = await driver.GetStatusAsync(id, cts.Token);
        Assert.Equal(WorkloadState.Error, status.State);
        Assert.Equal(1, status.ExitCode);
    }

    [Fact]
    public async Task A_container_in_a_vm_runs_its_process_with_env_and_workdir_stops_with_sigterm_keeps_its_changes_and_reports_its_exit_code()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        var ct = cts.Token;
        var kit = await ContainerVmKitFixture.BuildAsync(ct);
        var driver = NewDriver(kit.Directory);
        var id = NewId();
        var writable = Path.Combine(_temp.Path, "apps", id, "writable");
        // First run: greets, then waits for SIGTERM and exits 7. Second run (the marker survived): exits 3 by itself.
        const string script = "if [ -f /marker ]; then echo second-run; exit 3; fi; touch /marker; "
            + "trap 'echo got-term; exit 7' TERM; echo \"hello $GREETING in $(pwd) as $(hostname), it's $QUOTED\"; while true; do sleep 1; done";
        var spec = ContainerSpec(id, writable, ["/bin/sh", "-c", script]);

        await driver.PrepareAsync(spec, ct);
        await driver.StartAsync(id, ct);
        Assert.Equal(WorkloadState.Running, (await driver.GetStatusAsync(id, ct)).State);
        await WaitForConsoleAsync(driver, id, 0, "hello from-the-spec in /srv as box-one, it's a 'quoted' $value", ct);
        await driver.StopAsync(id, TimeSpan.FromSeconds(30), ct);
        var stopped = await driver.GetStatusAsync(id, ct);
        Assert.True(stopped.State == WorkloadState.Stopped, $"{stopped.State} {stopped.Message}; console:\n{await ReadAllConsoleAsync(driver, id, ct)}");
        Assert.Equal(7, stopped.ExitCode);
        Assert.Contains("got-term", await ReadAllConsoleAsync(driver, id, ct), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(writable, "upper", "marker")), "the process's change is in the app's writable layer");

        var from = (await ReadAllConsoleAsync(driver, id, ct)).Length;
        await driver.StartAsync(id, ct);
        var ended = await WaitForStateAsync(driver, id, WorkloadState.Stopped, ct);
        Assert.Equal(3, ended.ExitCode);
        Assert.Contains("second-run", (await ReadAllConsoleAsync(driver, id, ct))[from..], StringComparison.Ordinal);

        await driver.DeleteAsync(id, ct);
        Assert.Equal(WorkloadState.NotFound, (await driver.GetStatusAsync(id, ct)).State);
        Assert.False(Directory.Exists(writable));
        Assert.DoesNotContain(File.ReadAllText("/proc/self/mountinfo"), id, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_container_in_a_vm_whose_image_runs_as_another_user_is_refused_with_the_reason_and_nothing_left()
    {
        var kit = await ContainerVmKitFixture.BuildAsync(CancellationToken.None);
        var driver = NewDriver(kit.Directory);
        var id = NewId();
        var writable = Path.Combine(_temp.Path, "apps", id, "writable");
        var spec = ContainerSpec(id, writable, ["/bin/sh", "-c", "true"]);
        spec = spec with { Process = spec.Process with { User = "nobody" } };

        var e = await Assert.ThrowsAsync<WorkloadSpecException>(() => driver.PrepareAsync(spec, CancellationToken.None));
        Assert.Contains("runs as root", e.Message, StringComparison.Ordinal);
        Assert.Equal(WorkloadState.NotFound, (await driver.GetStatusAsync(id, CancellationToken.None)).State);
        Assert.DoesNotContain(File.ReadAllText("/proc/self/mountinfo"), id, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_container_in_a_vm_on_a_device_without_the_kit_says_how_to_get_one()
    {
        var driver = NewDriver(Path.Combine(_temp.Path, "no-kit"));
        var id = NewId();
        var spec = ContainerSpec(id, Path.Combine(_temp.Path, "apps", id, "writable"), ["/bin/sh", "-c", "true"]);

        var e = await Assert.ThrowsAsync<WorkloadRuntimeException>(() => driver.PrepareAsync(spec, CancellationToken.None));
        Assert.Contains("outpost image container-vm-kit", e.Message, StringComparison.Ordinal);
        Assert.Equal(WorkloadState.NotFound, (await driver.GetStatusAsync(id, CancellationToken.None)).State);
    }

    private WorkloadSpec ContainerSpec(string id, string writable, string[] command)
    {
        var image = ContainerVmKitFixture.BusyboxRootfs(Path.Combine(_temp.Path, "images", id));
        return new WorkloadSpec(id, "box-one", [image], writable, new WorkloadProcess(
            new ImageProcessConfig([], command, ["GREETING=from-the-image"], "/srv", null))
        {
            Env = ["GREETING=from-the-spec", "QUOTED=a 'quoted' $value"],
        })
        {
            Hostname = "box-one",
            Limits = new WorkloadLimits(128L * 1024 * 1024, 1),
            Vm = new VmWorkloadSpec([]) { Container = true },
        };
    }

    private static async Task<string> ReadAllConsoleAsync(QemuDriver driver, string id, CancellationToken ct)
    {
        var text = new StringBuilder();
        await foreach (var chunk in driver.ReadConsoleAsync(id, 0, ct))
        {
            text.Append(Encoding.UTF8.GetString(chunk.Data.Span));
        }

        return text.ToString();
    }

    private QemuDriver NewDriver(string? containerVmKit = null)
    {
        var options = new QemuDriverOptions(Path.Combine(_temp.Path, "state"), Tcg);
        var driver = new QemuDriver(containerVmKit is null ? options : options with { ContainerVmKitDirectory = containerVmKit });
        _drivers.Add(driver);
        return driver;
    }

    private string NewId()
    {
        var id = Guid.NewGuid().ToString();
        _ids.Add(id);
        return id;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }

    private static WorkloadSpec VmSpec(string id, string writable, TestGuestFiles guest, string? basePath) =>
        new(id, "vm-one", [], writable, new WorkloadProcess(
            new ImageProcessConfig(ValueList<string>.Empty, ValueList<string>.Empty, ValueList<string>.Empty, null, null)))
        {
            Limits = new WorkloadLimits(256L * 1024 * 1024, 1),
            Vm = new VmWorkloadSpec(basePath is null ? [] : [new VmDisk(basePath, VmDiskFormat.Raw, 32 * 1024 * 1024)])
            {
                KernelBoot = new QemuKernelBoot(guest.KernelPath, guest.InitrdPath, "console=ttyS0 quiet"),
                CloudInit = new NoCloudSeedContent(id, "vm-one", Encoding.UTF8.GetBytes("#cloud-config\nruncmd: [echo hi]\n"), null),
            },
        };

    private static async Task<string> WaitForConsoleAsync(QemuDriver driver, string id, long from, string text, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var seen = new StringBuilder();
        var offset = from;
        while (clock.Elapsed < BootTimeout)
        {
            await foreach (var chunk in driver.ReadConsoleAsync(id, offset, ct))
            {
                seen.Append(Encoding.UTF8.GetString(chunk.Data.Span));
                offset = chunk.NextOffset;
            }

            if (seen.ToString().Contains(text, StringComparison.Ordinal))
            {
                return seen.ToString();
            }

            var status = await driver.GetStatusAsync(id, ct);
            if (status.State is not (WorkloadState.Running or WorkloadState.Created))
            {
                throw new InvalidOperationException($"The VM is {status.State} ({status.Message}) before '{text}'; console:\n{seen}");
            }

            await Task.Delay(250, ct);
        }

        throw new TimeoutException($"No '{text}' on the VM's console within {BootTimeout}; console:\n{seen}");
    }

    private static async Task<WorkloadStatus> WaitForStateAsync(QemuDriver driver, string id, WorkloadState state, CancellationToken ct)
    {
        while (true)
        {
            var status = await driver.GetStatusAsync(id, ct);
            if (status.State == state)
            {
                return status;
            }

            await Task.Delay(100, ct);
        }
    }

    /// <summary>qemu-img's own view of an image, with its backing file.</summary>
    private static async Task<string> QemuImgInfoAsync(string path, CancellationToken ct)
    {
        var info = new ProcessStartInfo("qemu-img") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "info", "-f", "qcow2", "--output=json", path })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var text = await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        Assert.Equal(0, process.ExitCode);
        return text;
    }

    private static string? CgroupV1Memory() => Outpost.Agent.Workloads.Runc.CgroupCapabilities.V1MountPoint("memory");

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    public void Dispose()
    {
        foreach (var id in _ids)
        {
            foreach (var driver in _drivers.Take(1))
            {
                try
                {
                    driver.DeleteAsync(id, CancellationToken.None).GetAwaiter().GetResult();
                }
                catch (WorkloadException)
                {
                    // Best effort: the test may have deleted it already.
                }
            }
        }

        _temp.Dispose();
    }
}
