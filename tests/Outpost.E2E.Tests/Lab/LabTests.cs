using System.Diagnostics;
using System.Security.Cryptography;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Cli.Lab;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Image.Layouts;

namespace Outpost.E2E.Tests.Lab;

/// <summary>
/// `outpost lab` as real processes with a real QEMU under TCG (KVM on this kind of host hangs stock kernels). The
/// example image has no device agent yet and powers off once its services end, so these tests go as far as the serial
/// console and the cleanup; two boots in all.
/// </summary>
public sealed class LabTests : IAsyncLifetime
{
    private static readonly TimeSpan BootLimit = TimeSpan.FromSeconds(180);
    private readonly string _root = Directory.CreateTempSubdirectory("outpost-lab-test-").FullName;

    private string LabDirectory => Path.Combine(_root, "outpost-lab");

    private string DeviceDirectory => Path.Combine(LabDirectory, "devices", "dev1");

    public Task InitializeAsync() => Task.CompletedTask;

    private static async Task<CliResult> LabAsync(string workingDirectory, params string[] arguments)
    {
        var result = await OutpostBinary.RunAsync(workingDirectory, ["lab", .. arguments]);
        Assert.True(result.ExitCode == 0, $"outpost lab {string.Join(' ', arguments)} exited {result.ExitCode}:\n{result.Output}\n{result.Error}");
        return result;
    }

    [Fact]
    public async Task Lab_up_boots_a_given_image_under_tcg_and_lab_down_leaves_no_qemu_running()
    {
        var image = await LabImage.EnsureAsync(Path.Combine(_root, "built"), progress: null, CancellationToken.None);
        var imageHash = await HashAsync(image);

        // Boot 1: all the way to the example's service marker on the serial console.
        var up = await LabAsync(_root, "up", "--name", "dev1", "--image", image, "--accel", "tcg", "--no-wait");
        Assert.Contains("Accelerator: tcg (asked for)", up.Output);
        Assert.Contains("Booting dev1: QEMU pid", up.Output);
        var serialLog = Path.Combine(DeviceDirectory, "serial.log");
        await WaitForTextAsync(serialLog, DemoInputs.MarkerPrefix + " hello from a service");

        var console = await LabAsync(_root, "console", "dev1", "--no-follow");
        Assert.Contains("outpost-initramfs: root /dev/vda2 (PARTLABEL=IMGA)", console.Output);

        // The device's copy carries its own onboarding folder, naming the controller as the guest reaches it; the image is untouched.
        var port = new Uri((await File.ReadAllTextAsync(Path.Combine(LabDirectory, "controller", "controller.url"))).Trim()).Port;
        Assert.Equal($"10.0.2.2:{port}\n", await ReadConfigFileAsync(Path.Combine(DeviceDirectory, "disk.raw"), "server"));
        Assert.Equal("dev1\n", await ReadConfigFileAsync(Path.Combine(DeviceDirectory, "disk.raw"), "soft_serial"));
        Assert.Equal(imageHash, await HashAsync(image));

        await LabAsync(_root, "down", "dev1");

        // Boot 2: the same disk again, paused over QMP at once so it cannot power off by itself, then stopped by `lab down --all`.
        var again = await LabAsync(_root, "up", "--name", "dev1", "--accel", "tcg", "--no-wait", "--image", image);
        Assert.Contains("Reusing", again.Output);
        var pid = int.Parse((await File.ReadAllTextAsync(Path.Combine(DeviceDirectory, "qemu.pid"))).Trim());
        await using (var qmp = await QmpClient.ConnectAsync(Path.Combine(DeviceDirectory, "qmp.sock"), CancellationToken.None))
        {
            await qmp.ExecuteAsync("stop", CancellationToken.None);
        }

        var list = await LabAsync(_root, "list");
        Assert.Contains($"running (pid {pid})", list.Output);
        Assert.Contains("tcg", list.Output);

        var down = await LabAsync(_root, "down", "--all");
        Assert.Contains($"Stopped dev1 (QEMU pid {pid})", down.Output);
        Assert.Contains("Stopped the lab controller", down.Output);
        Assert.Empty(ProcessesUnder(LabDirectory));
        Assert.False(File.Exists(Path.Combine(DeviceDirectory, "qmp.sock")), "the QMP socket is a runtime file and must go");
        Assert.False(File.Exists(Path.Combine(DeviceDirectory, "qemu.pid")), "the pid file is a runtime file and must go");
        Assert.True(File.Exists(serialLog), "the serial log is the user's and must stay");
        Assert.True(File.Exists(Path.Combine(DeviceDirectory, "disk.raw")), "the disk must stay without --purge");

        await LabAsync(_root, "down", "dev1", "--purge");
        Assert.False(Directory.Exists(DeviceDirectory), "--purge deletes the device folder");
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
