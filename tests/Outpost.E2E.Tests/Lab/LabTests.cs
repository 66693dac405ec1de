using System.Diagnostics;
using System.Security.Cryptography;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Cli.Lab;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Image.Layouts;

namespace Outpost.E2E.Tests.Lab;

/// <summary>
/// `outpost lab` as real processes with a real QEMU under TCG (KVM on this kind of host hangs stock kernels), booting
/// the device image: it onboards from its CONFIG partition, runs an app, reboots on command and comes back; the
/// installer writes another disk that boots and onboards too. Four boots in all, one image build.
/// </summary>
public sealed partial class LabTests(DeviceImageBuild build, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<DeviceImageBuild>, IAsyncLifetime
{
    private static readonly TimeSpan BootLimit = TimeSpan.FromSeconds(300);
    private static readonly TimeSpan AppLimit = TimeSpan.FromSeconds(240);
    private readonly string _root = Directory.CreateTempSubdirectory("outpost-lab-test-").FullName;

    private string LabDirectory => Path.Combine(_root, "outpost-lab");

    private string DeviceDirectory => Path.Combine(LabDirectory, "devices", "dev1");

    public Task InitializeAsync() => Task.CompletedTask;

    private Task<CliResult> OutpostAsync(params string[] arguments) => RunOkAsync(_root, arguments);

    private static async Task<CliResult> RunOkAsync(string workingDirectory, string[] arguments)
    {
        var result = await OutpostBinary.RunAsync(workingDirectory, TimeSpan.FromMinutes(10), arguments);
        Assert.True(result.ExitCode == 0, $"outpost {string.Join(' ', arguments)} exited {result.ExitCode}:\n{result.Output}\n{result.Error}");
        return result;
    }

    private static Task<CliResult> LabAsync(string workingDirectory, params string[] arguments) => RunOkAsync(workingDirectory, ["lab", .. arguments]);

    [Fact]
    public async Task A_lab_device_onboards_runs_the_sample_app_reboots_on_command_and_comes_back_with_it()
    {
        var imageHash = await HashAsync(build.LiveRaw);
        var up = await LabAsync(_root, "up", "--name", "dev1", "--image", build.LiveRaw, "--accel", "tcg", "--timeout", "300");
        Assert.Contains("Accelerator: tcg (asked for)", up.Output);
        Assert.Contains("dev1 is online after", up.Output);
        Assert.Equal(imageHash, await HashAsync(build.LiveRaw));

        // The admin commands run in the lab's folder find its controller by themselves.
        var list = await OutpostAsync("device", "list");
        Assert.Contains("dev1", list.Output);
        Assert.Contains("online", list.Output);
        var info = await DeviceInfoAsync("dev1");
        var id = info.GetProperty("device").GetProperty("id").GetString()!;
        // P3 ships at 8 MiB and is grown to the rest of the lab's 8 GiB disk on the first boot.
        var persistMiB = long.Parse(info.GetProperty("deviceInfo").GetProperty("dinfo").GetProperty("storage").GetString()!);
        Assert.True(persistMiB > 4000, $"persist should fill the disk, but the device reports {persistMiB} MiB");
        Assert.Contains("Outpost 0.1.0", info.ToString());
        Assert.Contains("IMGA", info.ToString());
        Assert.Contains("IMGB", info.ToString());
        var console = await LabAsync(_root, "console", "dev1", "--no-follow");
        Assert.Contains("init: persist: formatting", console.Output);
        Assert.Contains("init: network: DHCP on eth0", console.Output);
        Assert.True(console.Output.IndexOf("onboot: hello ran first", StringComparison.Ordinal) is >= 0 and var onboot
            && onboot < console.Output.IndexOf("service marker: up", StringComparison.Ordinal), "the onboot container runs before the services:\n" + console.Output);

        // The sample app, pulled by the device from the lab controller's registry (10.0.2.2 from inside the guest).
        var image = System.Text.RegularExpressions.Regex.Match(up.Output, @"--image (10\.0\.2\.2:\d+/\S+:\d+)").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(image), "lab up names the sample app's image:\n" + up.Output);
        await OutpostAsync("app", "deploy", "--device", "dev1", "--name", "hello", "--image", image, "--memory", "64M");
        await WaitForAsync(async () => (await OutpostBinary.RunAsync(_root, "app", "list", "--device", "dev1")).Output.Contains("RUNNING"), AppLimit, "hello RUNNING");
        await WaitForAsync(async () => (await OutpostBinary.RunAsync(_root, "app", "logs", "hello", "--device", "dev1")).Output.Contains("hello from outpost"), AppLimit, "hello's log line");

        // EVE's reboot command: the device stops its apps, PID 1 reboots the machine, and it comes back as itself.
        await OutpostAsync("device", "reboot", "dev1");
        var serialLog = Path.Combine(DeviceDirectory, "serial.log");
        await WaitForTextAsync(serialLog, "init: reboot now");
        await WaitForAsync(async () => CountOf(await File.ReadAllTextAsync(serialLog), "init: boot complete") >= 2, BootLimit, "the second boot");
        await WaitForAsync(async () => (await DeviceInfoAsync("dev1")).ToString().Contains("REBOOT_CMD", StringComparison.OrdinalIgnoreCase)
            || (await DeviceInfoAsync("dev1")).ToString().Contains("RebootCmd", StringComparison.Ordinal), BootLimit, "boot reason REBOOT_CMD");
        Assert.Equal(id, (await DeviceInfoAsync("dev1")).GetProperty("device").GetProperty("id").GetString());
        await WaitForAsync(async () => (await OutpostBinary.RunAsync(_root, "app", "list", "--device", "dev1")).Output.Contains("RUNNING"), AppLimit, "hello RUNNING after the reboot");
        Assert.Equal(1, CountOf(await File.ReadAllTextAsync(serialLog), "init: persist: formatting")); // persist is kept across the reboot

        var down = await LabAsync(_root, "down", "--all");
        Assert.Contains("Stopped dev1", down.Output);
        Assert.Empty(ProcessesUnder(LabDirectory));
    }

    [Fact]
    public async Task The_installer_writes_the_first_other_disk_which_then_boots_and_onboards()
    {
        // Installer media with a CONFIG of its own, and a blank disk beside it.
        var installer = Path.Combine(_root, "installer.raw");
        File.Copy(build.InstallerRaw, installer);
        var config = Directory.CreateDirectory(Path.Combine(_root, "installer-config")).FullName;
        await File.WriteAllTextAsync(Path.Combine(config, "server"), "controller.example.test:443\n");
        await Outpost.Image.Disks.ConfigPartitionWriter.WriteAsync(installer, config, DateTime.UnixEpoch.AddYears(40), CancellationToken.None);
        var target = Path.Combine(_root, "target.raw");
        await using (var blank = File.Create(target)) blank.SetLength(2L << 30);

        var serial = Path.Combine(_root, "installer-serial.log");
        var vars = Path.Combine(_root, "installer-vars.fd");
        File.Copy(QemuUefiFirmware.DebianVarsTemplate, vars);
        var spec = new QemuMachineSpec
        {
            Name = "installer",
            Accelerator = QemuAccelerator.Tcg,
            Firmware = new QemuUefiFirmware(QemuUefiFirmware.DebianCode, vars),
            Disks = [new QemuDisk(installer), new QemuDisk(target)],
            SerialLogPath = serial,
        };
        var start = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in QemuCommandLine.Arguments(spec)) start.ArgumentList.Add(argument);
        using (var qemu = Process.Start(start)!)
        {
            using var limit = new CancellationTokenSource(BootLimit);
            try
            {
                // The installer powers the machine off when it is done, which ends QEMU.
                await qemu.WaitForExitAsync(limit.Token);
            }
            finally
            {
                if (!qemu.HasExited) qemu.Kill();
            }
        }
        var log = await File.ReadAllTextAsync(serial);
        Assert.Contains("installer: installed Outpost onto /dev/vdb", log);
        Assert.Equal("controller.example.test:443\n", await ReadConfigFileAsync(target, "server"));

        // The installed disk alone: it boots like live.raw and onboards (lab writes this device's CONFIG into its copy).
        var up = await LabAsync(_root, "up", "--name", "installed", "--image", target, "--accel", "tcg", "--timeout", "300");
        Assert.Contains("installed is online after", up.Output);
        await LabAsync(_root, "down", "--all");
        Assert.Empty(ProcessesUnder(LabDirectory));
    }

    private async Task<System.Text.Json.JsonElement> DeviceInfoAsync(string device)
    {
        var shown = await OutpostAsync("device", "show", device, "--json");
        return System.Text.Json.JsonDocument.Parse(shown.Output).RootElement;
    }

    private static int CountOf(string text, string value) => (text.Length - text.Replace(value, "", StringComparison.Ordinal).Length) / value.Length;

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan limit, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < limit, $"no {what} within {limit.TotalSeconds:0} s");
            await Task.Delay(1000);
        }
    }

    [Fact]
    public async Task Lab_refuses_bad_input_before_starting_anything()
    {
        var badName = await OutpostBinary.RunAsync(_root, "lab", "up", "--name", "no spaces", "--no-wait");
        Assert.Equal(1, badName.ExitCode);
        Assert.Contains("Device name 'no spaces' must be", badName.Error);

        var noImage = await OutpostBinary.RunAsync(_root, "lab", "up", "--image", Path.Combine(_root, "absent.raw"), "--accel", "tcg", "--no-wait");
        Assert.Equal(1, noImage.ExitCode);
        Assert.Contains("does not exist", noImage.Error);

        var badAccel = await OutpostBinary.RunAsync(_root, "lab", "up", "--accel", "fast");
        Assert.Equal(1, badAccel.ExitCode);
        Assert.Contains("--accel 'fast' is not auto, kvm or tcg", badAccel.Error);

        var neither = await OutpostBinary.RunAsync(_root, "lab", "down");
        Assert.Equal(1, neither.ExitCode);
        Assert.Contains("Give one device NAME, or --all", neither.Error);

        Assert.False(Directory.Exists(Path.Combine(LabDirectory, "controller")), "no controller may have been started");
        Assert.Empty(ProcessesUnder(_root));
    }

    /// <summary>Polls the serial log (QEMU appends to it) until <paramref name="text"/> shows up.</summary>
    private static async Task WaitForTextAsync(string path, string text)
    {
        var clock = Stopwatch.StartNew();
        while (!(File.Exists(path) && (await File.ReadAllTextAsync(path)).Contains(text, StringComparison.Ordinal)))
        {
            Assert.True(clock.Elapsed < BootLimit,
                $"'{text}' did not reach {path} within {BootLimit.TotalSeconds:0} s. Console:\n{(File.Exists(path) ? await File.ReadAllTextAsync(path) : "(no log)")}");
            await Task.Delay(250);
        }
    }

    private static async Task<string> ReadConfigFileAsync(string disk, string name)
    {
        await using var stream = File.OpenRead(disk);
        var config = GptDisk.Read(stream).Partitions.Single(p => p.Name == EvePartitions.ConfigName);
        var volume = new byte[config.ByteLength];
        stream.Position = config.ByteOffset;
        await stream.ReadExactlyAsync(volume);
        return System.Text.Encoding.UTF8.GetString(FatVolumeReader.Open(new MemoryStream(volume)).ReadFile(name));
    }

    private static async Task<string> HashAsync(string path)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(file));
    }

    /// <summary>Live processes whose command line names <paramref name="directory"/>: only what this test started can.</summary>
    private static List<int> ProcessesUnder(string directory)
    {
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(entry, "stat"));
                if (stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z'))
                {
                    continue;
                }

                if (File.ReadAllText(Path.Combine(entry, "cmdline")).Replace('\0', ' ').Contains(directory, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // Gone while we looked.
            }
        }

        return found;
    }

    public Task DisposeAsync()
    {
        // Only when an assertion failed midway is anything left: the QEMU and controller this test started, named by its folder.
        foreach (var pid in ProcessesUnder(_root))
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
                process.WaitForExit(10_000);
            }
            catch (ArgumentException)
            {
            }
        }

        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }
}
