using Outpost.Disk;
using Outpost.Disk.Install;

namespace Outpost.Device.Init;

/// <summary>
/// Booted from installer.raw (root=PARTLABEL=INSTALLER), PID 1 does nothing but install: it finds the first other
/// disk, writes the live layout onto it (<see cref="LiveInstaller"/>: ESP, IMGA, CONFIG carried over and read back),
/// says what it did on the console, and powers off. A refusal (no other disk, one too small, the boot disk itself)
/// is said as clearly, and the machine powers off with nothing written.
/// </summary>
internal static class InstallerMode
{
    public static bool IsInstallerBoot(string cmdline) =>
        cmdline.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("root=PARTLABEL=" + Outpost.Disk.Gpt.EvePartitions.InstallerName);

    /// <summary>Returns true when the install succeeded.</summary>
    public static async Task<bool> RunAsync(BootLog log, CancellationToken cancellationToken)
    {
        try
        {
            var boot = InstallerMedia.FindBootDisk();
            var targets = InstallTargets.Discover(boot);
            log.Line("installer", $"booted from {boot}; candidate disks: {(targets.Candidates.Count == 0 ? "none" : string.Join(", ", targets.Candidates))}"
                + (targets.Skipped.Count > 0 ? $"; passed over: {targets.DescribeSkipped()}" : ""));
            var result = await LiveInstaller.InstallAsync(boot, targets.Candidates, InstallOptions.Default, new ConsoleProgress(log), cancellationToken);
            foreach (var copy in result.Copies)
                log.Line("installer", $"{copy.Partition}: {InstallPlan.Size(copy.Bytes)} from {copy.Source}, read back, sha256 {copy.Sha256}");
            log.Line("installer", $"installed Outpost onto {result.TargetDisk} ({InstallPlan.Size(result.TargetBytes)}). Remove the installer and boot from {result.TargetDisk}. Powering off.");
            return true;
        }
        catch (Exception e) when (e is InstallRefusedException or IOException or PartitionVerificationException or UnauthorizedAccessException)
        {
            log.Line("installer", $"not installed: {e.Message} Powering off.");
            return false;
        }
    }

    // Called synchronously by the installer, so lines come out in order.
    private sealed class ConsoleProgress(BootLog log) : IProgress<InstallProgress>
    {
        public void Report(InstallProgress value) => log.Line("installer", $"{value.Step}: {value.Detail}");
    }
}
