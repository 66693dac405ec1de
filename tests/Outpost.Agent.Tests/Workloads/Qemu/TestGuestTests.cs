using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Outpost.Agent.Tests.Fixtures;
using Xunit.Abstractions;

namespace Outpost.Agent.Tests.Workloads.Qemu;

/// <summary>
/// One real QEMU (TCG) boot of the <see cref="TestGuest"/> kernel and initrd with a cidata FAT disk, shared by every test
/// of <see cref="TestGuestTests"/>. The serial port is a socket chardev that also logs to a file.
/// </summary>
public sealed class BootedTestGuest : IAsyncLifetime
{
    public const string InstanceId = "iid-test-guest-1";
    public const string Hostname = "guest-one";

    private readonly TempDirectory _temp = new();

    public TestGuestQemu Qemu { get; private set; } = null!;

    public TimeSpan ReadyAfter { get; private set; }

    public string SocketPath => Path.Combine(_temp.Path, "serial.sock");

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var files = await TestGuest.BuildAsync(cts.Token);
        var cidata = await MakeCidataAsync(cts.Token);
        var log = Path.Combine(_temp.Path, "serial.log");
        Qemu = TestGuestQemu.Start(log,
            "-m", "256", "-kernel", files.KernelPath, "-initrd", files.InitrdPath, "-append", "console=ttyS0 quiet",
            "-chardev", $"socket,id=s0,path={SocketPath},server=on,wait=off,logfile={log},logappend=on", "-serial", "chardev:s0",
            "-drive", $"file={cidata},format=raw,if=virtio,readonly=on");
        await Qemu.WaitForLineAsync(TestGuest.ReadyLine, TimeSpan.FromSeconds(120));
        ReadyAfter = Qemu.Elapsed;
    }

    private async Task<string> MakeCidataAsync(CancellationToken ct)
    {
        var dir = _temp.Sub("cidata");
        var img = Path.Combine(_temp.Path, "cidata.img");
        await File.WriteAllTextAsync(Path.Combine(dir, "meta-data"), $"instance-id: {InstanceId}\nlocal-hostname: {Hostname}\n", ct);
        await File.WriteAllTextAsync(Path.Combine(dir, "user-data"), "#cloud-config\nruncmd:\n  - echo hello\n", ct);
        await RunAsync("mkfs.vfat", ct, "-n", "CIDATA", "-C", img, "1024");
        await RunAsync("mcopy", ct, "-i", img, Path.Combine(dir, "meta-data"), Path.Combine(dir, "user-data"), "::");
        return img;
    }

    private static async Task RunAsync(string tool, CancellationToken ct, params string[] args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0) throw new InvalidOperationException($"{tool} failed ({process.ExitCode}): {await stderr}");
    }

    public Task DisposeAsync()
    {
        Qemu?.Dispose();
        _temp.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class TestGuestTests(BootedTestGuest guest, ITestOutputHelper output) : IClassFixture<BootedTestGuest>
{
    [Fact]
    public void The_guest_ticks_then_prints_the_ready_line_and_its_resources()
    {
        output.WriteLine($"TCG boot: '{TestGuest.ReadyLine}' {guest.ReadyAfter.TotalSeconds:F1} s after QEMU started");
        var lines = guest.Qemu.Lines();
        var ready = lines.IndexOf(TestGuest.ReadyLine);
        Assert.True(ready >= 3, $"ready after {guest.ReadyAfter}:\n{guest.Qemu.Tail()}");
        Assert.Equal(["outpost-test-guest: tick 1", "outpost-test-guest: tick 2", "outpost-test-guest: tick 3"],
            lines.Where(l => l.StartsWith("outpost-test-guest: tick", StringComparison.Ordinal)));
        Assert.True(lines.IndexOf("outpost-test-guest: tick 3") < ready);
    }

    [Fact]
    public async Task The_guest_reports_its_memory_and_cpus()
    {
        await guest.Qemu.WaitForLineAsync("outpost-test-guest: cpus=1", TimeSpan.FromSeconds(30));
        var memory = guest.Qemu.Lines().Single(l => l.StartsWith("outpost-test-guest: memory-kib=", StringComparison.Ordinal));
        var kib = long.Parse(memory["outpost-test-guest: memory-kib=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(kib, 150_000, 256 * 1024);
    }

    [Fact]
    public async Task The_guest_reads_instance_id_hostname_and_user_data_from_the_cidata_disk()
    {
        await guest.Qemu.WaitForLineAsync(
            $"outpost-test-guest: cidata instance-id={BootedTestGuest.InstanceId} hostname={BootedTestGuest.Hostname}", TimeSpan.FromSeconds(30));
        await guest.Qemu.WaitForLineAsync("outpost-test-guest: user-data:   - echo hello", TimeSpan.FromSeconds(10));
        var lines = guest.Qemu.Lines();
        Assert.Contains("outpost-test-guest: user-data: #cloud-config", lines);
        Assert.Contains("outpost-test-guest: user-data: runcmd:", lines);
        Assert.DoesNotContain("outpost-test-guest: no cidata", lines);
    }

    [Fact]
    public async Task The_guest_keeps_printing_alive_lines()
    {
        await guest.Qemu.WaitForLineAsync("outpost-test-guest: alive 2", TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task The_shell_on_the_serial_socket_answers_a_command()
    {
        await guest.Qemu.WaitForLineAsync("outpost-test-guest: shell on ttyS0", TimeSpan.FromSeconds(60));
        await GuestConsole.AskAsync(guest.SocketPath, "echo $((6*7))", "42", TimeSpan.FromSeconds(60));
    }
}

/// <summary>The same guest booted by OVMF through systemd-boot from <see cref="TestGuest.BuildUefiDiskAsync"/>.</summary>
public sealed class TestGuestUefiTests(ITestOutputHelper output)
{
    private const string OvmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    private const string OvmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd";

    [Fact]
    public async Task The_uefi_disk_boots_under_ovmf_to_the_ready_line_without_cidata()
    {
        using var temp = new TempDirectory();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var disk = await TestGuest.BuildUefiDiskAsync(cts.Token);
        var vars = Path.Combine(temp.Path, "OVMF_VARS.fd");
        File.Copy(OvmfVars, vars);
        var log = Path.Combine(temp.Path, "serial.log");
        using var qemu = TestGuestQemu.Start(log,
            "-m", "256",
            "-drive", $"if=pflash,format=raw,unit=0,readonly=on,file={OvmfCode}",
            "-drive", $"if=pflash,format=raw,unit=1,file={vars}",
            "-drive", $"file={disk},format=raw,if=virtio,snapshot=on",
            "-serial", $"file:{log}");
        await qemu.WaitForLineAsync(TestGuest.ReadyLine, TimeSpan.FromSeconds(180));
        var readyAfter = qemu.Elapsed;
        output.WriteLine($"TCG + OVMF boot: '{TestGuest.ReadyLine}' {readyAfter.TotalSeconds:F1} s after QEMU started");
        await qemu.WaitForLineAsync("outpost-test-guest: no cidata", TimeSpan.FromSeconds(30));
        Assert.Contains("outpost-test-guest: cpus=1", qemu.Lines());
    }
}

/// <summary>A qemu-system-x86_64 (TCG, no defaults, no display) whose serial output lands in a log file; killed on dispose.</summary>
public sealed class TestGuestQemu : IDisposable
{
    private readonly Process _process;
    private readonly string _log;
    private readonly StringBuilder _stderr = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private TestGuestQemu(Process process, string log)
    {
        _process = process;
        _log = log;
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    public static TestGuestQemu Start(string log, params string[] args)
    {
        var info = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-accel", "tcg", "-nodefaults", "-no-user-config", "-display", "none" }.Concat(args))
            info.ArgumentList.Add(arg);
        var process = Process.Start(info)!;
        var qemu = new TestGuestQemu(process, log);
        process.ErrorDataReceived += (_, e) =>
        {
            lock (qemu._stderr) qemu._stderr.AppendLine(e.Data);
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return qemu;
    }

    public string Text()
    {
        if (!File.Exists(_log)) return "";
        using var stream = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public List<string> Lines() => [.. Text().Split('\n').Select(l => l.TrimEnd('\r'))];

    public string Tail() => string.Join('\n', Lines().TakeLast(40));

    /// <summary>Waits for a serial line that contains <paramref name="line"/> (the shell's prompt and escapes may precede it).</summary>
    public async Task WaitForLineAsync(string line, TimeSpan timeout)
    {
        var deadline = _clock.Elapsed + timeout;
        while (!Lines().Any(l => l.Contains(line, StringComparison.Ordinal)))
        {
            if (_process.HasExited)
            {
                string stderr;
                lock (_stderr) stderr = _stderr.ToString();
                throw new InvalidOperationException($"QEMU exited ({_process.ExitCode}) before '{line}': {stderr}\nserial:\n{Tail()}");
            }
            if (_clock.Elapsed > deadline)
                throw new TimeoutException($"no '{line}' on the serial port within {timeout}; serial:\n{Tail()}");
            await Task.Delay(250);
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
