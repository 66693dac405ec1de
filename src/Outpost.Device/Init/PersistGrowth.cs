using Outpost.Disk;
using Outpost.Disk.Gpt;

namespace Outpost.Device.Init;

/// <summary>
/// The image ships a small P3; on the first boot — before it holds a filesystem, so nothing can be lost — P3 is
/// grown to the end of the disk, as EVE's storage-init gives persist the rest of the device. The GPT's backup is moved
/// to the real end first (the image was written to a bigger disk), then the kernel is told the new size (partx).
/// </summary>
internal static class PersistGrowth
{
    private const long MiB = 1024 * 1024;

    public static async Task GrowToDiskEndAsync(string partitionDevice, BootLog log, CancellationToken cancellationToken)
    {
        var partitionName = Path.GetFileName(partitionDevice);
        if (DiskOf(partitionName) is not { } disk) return;
        try
        {
            long before, after;
            using (var stream = DiskStream.OpenReadWrite("/dev/" + disk))
            {
                var layout = GptDisk.RelocateBackupToEnd(stream);
                var persist = layout.FindByName(PersistStorage.PartitionName);
                if (persist is null || layout.Partitions.Any(p => p.LastLba > persist.LastLba)) return;
                var end = (layout.LastUsableLba + 1) * GptLayout.SectorSize / MiB * MiB / GptLayout.SectorSize - 1;
                before = persist.ByteLength;
                if (end <= persist.LastLba) return;
                var grown = persist with { LastLba = end };
                GptWriter.Write(stream, layout with { Partitions = [.. layout.Partitions.Select(p => p.Number == persist.Number ? grown : p)] });
                after = grown.ByteLength;
            }
            // Only P3: updating every partition drops the others and adds them back without their GPT names, and
            // CONFIG is then no longer found by name.
            var number = File.ReadAllText(Path.Combine("/sys/class/block", partitionName, "partition")).Trim();
            var update = await Tools.RunAsync("partx", ["-u", "--nr", number, "/dev/" + disk], cancellationToken);
            log.Say(update.Succeeded
                ? $"persist: grew {partitionDevice} from {before / MiB} MiB to {after / MiB} MiB, the rest of /dev/{disk}"
                : $"persist: grew {partitionDevice} in the GPT but the kernel did not take it ({update.LastLine}); it takes effect at the next boot");
        }
        catch (Exception e) when (e is IOException or GptFormatException or UnauthorizedAccessException)
        {
            log.Say($"persist: cannot grow {partitionDevice} ({e.Message}); keeping its size");
        }
    }

    /// <summary>The whole disk a partition belongs to: its parent directory in /sys/block.</summary>
    private static string? DiskOf(string partitionName)
    {
        var sys = Path.Combine("/sys/class/block", partitionName);
        // Only a partition has a disk to grow into (a loop device or a whole disk has no "partition" file).
        if (!File.Exists(Path.Combine(sys, "partition"))) return null;
        var resolved = new DirectoryInfo(sys).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? sys;
        return Path.GetFileName(Path.GetDirectoryName(resolved));
    }
}
