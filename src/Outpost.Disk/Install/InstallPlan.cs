using Outpost.Disk.Gpt;

namespace Outpost.Disk.Install;

/// <summary>A partition of the installer disk copied byte for byte into a partition of the target.</summary>
public sealed record PartitionCopy(GptPartition Source, GptPartition Target);

/// <summary>
/// What the installer will write: the target's live GPT (<see cref="LivePartitions"/>), the partitions copied from
/// the installer disk (the live ESP image to the ESP, INSTALLER's squashfs to IMGA, CONFIG to CONFIG) and the ones
/// whose first MiB is zeroed (IMGB, and P3 so a stale file system is not mistaken for the device's). Pure: computed
/// from the two disks' sizes and the installer's GPT, so it can be checked before anything is written.
/// </summary>
public sealed record InstallPlan(GptLayout Target, IReadOnlyList<PartitionCopy> Copies, IReadOnlyList<GptPartition> Zeroed, long NeededBytes)
{
    /// <summary>Bytes zeroed at the start of each partition in <see cref="Zeroed"/>.</summary>
    public const long ZeroedBytes = PartitionPlan.MiB;

    /// <exception cref="NotAnInstallerDiskException">The installer disk lacks the live ESP, INSTALLER or CONFIG partition.</exception>
    /// <exception cref="TargetDiskTooSmallException">The target cannot hold the partitions and the minimum persist.</exception>
    public static InstallPlan Create(string installerDisk, GptLayout installer, string targetDisk, long targetBytes, InstallOptions options)
    {
        var esp = Require(installerDisk, installer, InstallerMedia.LiveEspName);
        var rootfs = Require(installerDisk, installer, EvePartitions.InstallerName);
        var config = Require(installerDisk, installer, EvePartitions.ConfigName);
        var slotBytes = Math.Max(PartitionPlan.RoundUp(rootfs.ByteLength, PartitionPlan.MiB), PartitionPlan.RoundUp(options.MinimumSlotBytes, PartitionPlan.MiB));
        var specs = LivePartitions.For(esp.ByteLength, slotBytes, config.ByteLength, options.MinimumPersistBytes);

        var needed = PartitionPlan.Layout(specs).DiskSizeBytes;
        if (targetBytes < needed)
        {
            throw new TargetDiskTooSmallException(
                $"{targetDisk} holds {Size(targetBytes)} but the installation needs {Size(needed)}: ESP {Size(esp.ByteLength)}, IMGA and IMGB {Size(slotBytes)} each, " +
                $"CONFIG {Size(config.ByteLength)}, persist (P3) at least {Size(options.MinimumPersistBytes)}, and 2 MiB for the partition tables. Nothing was written; install onto a larger disk.",
                targetDisk, targetBytes, needed);
        }

        var target = PartitionPlan.Layout(specs, targetBytes);
        GptPartition Target(int number) => target.Find(number)!;
        return new InstallPlan(
            target,
            [
                new PartitionCopy(esp, Target(EvePartitions.EfiNumber)),
                new PartitionCopy(rootfs, Target(EvePartitions.ImgaNumber)),
                new PartitionCopy(config, Target(EvePartitions.ConfigNumber)),
            ],
            [Target(EvePartitions.ImgbNumber), Target(EvePartitions.PersistNumber)],
            needed);
    }

    /// <summary>"40 MiB (41943040 bytes)": readable, and exact for whoever compares with a disk's size.</summary>
    public static string Size(long bytes) =>
        bytes >= 10L << 30 ? $"{bytes / (double)(1L << 30):0.#} GiB ({bytes} bytes)" : $"{bytes / (double)PartitionPlan.MiB:0.#} MiB ({bytes} bytes)";

    private static GptPartition Require(string disk, GptLayout layout, string name) =>
        layout.FindByName(name) ?? throw new NotAnInstallerDiskException(
            $"{disk} has no partition named {name} (it has: {string.Join(", ", layout.Partitions.OrderBy(p => p.Number).Select(p => $"{p.Number} {p.Name}"))}), so it is not an Outpost installer disk made by this version. Rebuild installer.raw and boot from it.");
}
