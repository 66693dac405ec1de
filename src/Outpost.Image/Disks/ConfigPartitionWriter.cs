using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;

namespace Outpost.Image.Disks;

/// <summary>
/// Replaces the CONFIG partition of an existing disk image with a FAT volume built from a device's config folder,
/// exactly as the image builder builds config.img from <c>--config</c>. One image build then serves many devices
/// (<c>outpost lab</c> gives each copy its own onboarding folder). Nothing else on the disk is touched.
/// </summary>
public static class ConfigPartitionWriter
{
    /// <summary>Writes the volume and returns the partition it filled.</summary>
    /// <exception cref="ImageBuildException">The folder is invalid, the disk has no GPT or no CONFIG partition, or the folder does not fit.</exception>
    public static async Task<GptPartition> WriteAsync(string diskPath, string configDirectory, DateTime timestamp, CancellationToken cancellationToken)
    {
        // Built (and its files checked) before the disk is opened, so a bad folder leaves the disk as it was.
        var root = await ConfigPartition.BuildAsync(configDirectory, cancellationToken);
        await using var disk = new FileStream(diskPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1 << 20, useAsync: true);
        var partition = FindConfig(disk, diskPath);
        disk.Position = partition.ByteOffset;
        try
        {
            // The writer lays the whole volume out before its first write: a folder that does not fit changes nothing.
            await FatVolume.WriteAsync(disk, root, partition.ByteLength, ConfigPartition.Label, timestamp, cancellationToken);
        }
        catch (FatLayoutException e)
        {
            throw new ImageBuildException($"config folder '{configDirectory}' does not fit the {EvePartitions.ConfigName} partition of {diskPath} "
                + $"({partition.ByteLength / 1024} KiB): {e.Message} Leave files out of the folder, or build the image with a bigger CONFIG partition.");
        }

        disk.Flush(flushToDisk: true);
        return partition;
    }

    private static GptPartition FindConfig(FileStream disk, string diskPath)
    {
        GptLayout layout;
        try
        {
            layout = GptDisk.Read(disk);
        }
        catch (GptFormatException e)
        {
            throw new ImageBuildException($"{diskPath} is not a raw GPT disk ({e.Message}). Give a live.raw from `outpost image build`; convert a qcow2 with `qemu-img convert -O raw`.");
        }

        var partition = layout.Partitions.FirstOrDefault(p => p.Name == EvePartitions.ConfigName)
            ?? throw new ImageBuildException($"{diskPath} has no partition named {EvePartitions.ConfigName} (it has {string.Join(", ", layout.Partitions.Select(p => $"{p.Number} '{p.Name}'"))}). "
                + "Give a live image from `outpost image build`, not an installer or another OS's disk.");
        if (partition.ByteOffset + partition.ByteLength > disk.Length)
        {
            throw new ImageBuildException($"{diskPath} is shorter ({disk.Length} bytes) than its {EvePartitions.ConfigName} partition's end; the file is truncated. Copy or build it again.");
        }

        return partition;
    }
}
