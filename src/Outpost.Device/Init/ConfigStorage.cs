namespace Outpost.Device.Init;

/// <summary>
/// The CONFIG partition (GPT name CONFIG, FAT), as EVE's storage-init handles it: mounted read-only, its files
/// copied into a small tmpfs at /config that is then made read-only too, so nothing on the device can change
/// what the operator put there and the partition itself is never written.
/// </summary>
internal static class ConfigStorage
{
    public const string PartitionName = "CONFIG";
    private const string PartitionMount = "/run/outpost/config-partition";

    /// <summary>Returns the number of files copied; 0 with a reason said when the partition is missing, unreadable or empty.</summary>
    public static async Task<int> PrepareAsync(string mountPoint, BootLog log, CancellationToken cancellationToken, TimeSpan? waitForPartition = null)
    {
        Directory.CreateDirectory(mountPoint);
        Native.Mount("tmpfs", mountPoint, "tmpfs", Native.MsNodev | Native.MsNosuid | Native.MsNoexec, "size=5m,mode=0700");
        var copied = 0;
        var device = await BlockDevices.WaitForPartitionAsync(PartitionName, waitForPartition ?? TimeSpan.FromSeconds(10), cancellationToken);
        if (device is null)
        {
            log.Say("config: this disk has no CONFIG partition, so the device does not know its controller. Rebuild the image with `outpost image build --config DIR`, or write a config with `outpost lab`; retrying onboarding meanwhile");
        }
        else
        {
            Directory.CreateDirectory(PartitionMount);
            try
            {
                Native.Mount(device, PartitionMount, "vfat", Native.MsRdonly | Native.MsNodev | Native.MsNosuid | Native.MsNoexec, "umask=077");
                copied = Copy(PartitionMount, mountPoint);
                Native.TryUnmount(PartitionMount);
                if (copied == 0) log.Say($"config: the CONFIG partition {device} is empty, so the device does not know its controller. Write an onboarding folder to it (`outpost onboarding create`, then `outpost image build --config DIR`); retrying onboarding meanwhile");
                else log.Say($"config: {copied} files from {device} in {mountPoint}");
            }
            catch (IOException e)
            {
                log.Say($"config: cannot read the CONFIG partition: {e.Message}; retrying onboarding meanwhile");
            }
        }

        Native.Mount(null, mountPoint, null, Native.MsRemount | Native.MsRdonly | Native.MsNodev | Native.MsNosuid | Native.MsNoexec);
        return copied;
    }

    private static int Copy(string from, string to)
    {
        var count = 0;
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
            File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            count++;
        }
        return count;
    }
}
