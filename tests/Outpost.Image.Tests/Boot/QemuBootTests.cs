using System.Diagnostics;
using System.Text;
using Outpost.Disk.Install;
using Outpost.Image.Build;
using Outpost.Image.Layouts;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Boot;

/// <summary>
/// Boots live.raw for real: OVMF → systemd-boot (BOOTX64.EFI on the ESP) → kernel + generated initramfs →
/// squashfs root on IMGA → demo init → the marker service prints to the serial console. TCG only: KVM on
/// this host cannot run a stock Debian kernel (reference §6.2).
/// </summary>
public sealed class QemuBootTests(ExampleBuild build) : IClassFixture<ExampleBuild>
{
    private static readonly TimeSpan BootLimit = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Live_raw_boots_under_uefi_and_the_service_marker_reaches_the_serial_console()
    {
        using var temp = new TempDirectory();
        var disk = temp.Combine("live.raw");
        File.Copy(build.Artifact(ImageBuilder.LiveRaw), disk); // the VM may write (boot counting renames); keep the artifact pristine

        var log = await BootToMarkerAsync(disk, temp);

        Assert.Contains("outpost-initramfs: root /dev/vda2 (PARTLABEL=IMGA)", log);
        Assert.Contains("outpost-init: VERSION=1.2.3", log);
        Assert.True(log.IndexOf("onboot: hello ran first", StringComparison.Ordinal) is >= 0 and var onboot
            && onboot < log.IndexOf(DemoInputs.MarkerPrefix + " hello", StringComparison.Ordinal), "the onboot container must run before the service:\n" + log);
    }

    [Fact]
    public async Task A_disk_installed_from_installer_raw_boots_like_live_raw_once_the_installer_is_removed()
    {
        using var temp = new TempDirectory();
        var disk = temp.Combine("installed.raw");
        using (var blank = File.Create(disk)) blank.SetLength(512L << 20);
        await LiveInstaller.InstallOntoAsync(build.Artifact(ImageBuilder.InstallerRaw), disk, InstallOptions.Default, null, CancellationToken.None);

        var log = await BootToMarkerAsync(disk, temp);

        Assert.Contains("outpost-initramfs: root /dev/vda2 (PARTLABEL=IMGA)", log);
        Assert.Contains("outpost-init: VERSION=1.2.3", log);
    }

    /// <summary>Boots <paramref name="disk"/> as the only disk and returns the console once the service marker appears.</summary>
    private static async Task<string> BootToMarkerAsync(string disk, TempDirectory temp)
    {
        var qemu = Tools.Require("qemu-system-x86_64");
        const string code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
        const string vars = "/usr/share/OVMF/OVMF_VARS_4M.fd";
        Assert.True(File.Exists(code) && File.Exists(vars), "OVMF firmware is missing: apt-get install ovmf");
        var varsCopy = temp.Combine("OVMF_VARS.fd");
        File.Copy(vars, varsCopy);

        var start = new ProcessStartInfo(qemu) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[]
                 {
                     "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
                     "-drive", $"if=pflash,format=raw,readonly=on,file={code}",
                     "-drive", $"if=pflash,format=raw,file={varsCopy}",
                     "-drive", $"file={disk},format=raw,if=virtio", "-net", "none",
                 })
            start.ArgumentList.Add(arg);

        var console = new StringBuilder();
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = start };
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (console) console.AppendLine(line);
            if (line.Contains(DemoInputs.MarkerPrefix + " hello from a service", StringComparison.Ordinal)) marker.TrySetResult();
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var finished = await Task.WhenAny(marker.Task, process.WaitForExitAsync(), Task.Delay(BootLimit));
            string Log() { lock (console) return console.ToString(); }
            Assert.True(marker.Task.IsCompleted, $"no marker line within {BootLimit.TotalSeconds} s (qemu exited: {process.HasExited}). Console:\n{Log()}");
            return Log();
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
