using Outpost.Disk.Gpt;

namespace Outpost.Disk.Install;

/// <summary>A line for the console: which step, and what it did or is doing.</summary>
public sealed record InstallProgress(string Step, string Detail);

/// <summary>A partition copied and read back with the same SHA-256.</summary>
public sealed record VerifiedCopy(string Partition, string Source, long Bytes, string Sha256);

/// <summary>What the installer wrote: the disk, its new GPT and the verified copies.</summary>
public sealed record InstallResult(string TargetDisk, long TargetBytes, GptLayout Layout, IReadOnlyList<VerifiedCopy> Copies);

/// <summary>
/// Installs the live layout from a booted installer.raw onto another disk, as EVE's installer runs make-raw: a
/// fresh GPT with EVE's live partitions, the ESP, rootfs and CONFIG copied byte for byte from the installer disk and
/// each read back and compared by SHA-256, IMGB and the start of P3 zeroed. The installed disk then boots like
/// live.raw. Whatever is on the target is overwritten; refusals happen before the first write.
/// </summary>
public static class LiveInstaller
{
    /// <summary>
    /// Installs onto the first of <paramref name="candidateDisks"/> (from <see cref="InstallTargets.Discover"/>) that
    /// is not <paramref name="bootDisk"/> and is large enough; smaller ones are reported through progress and passed.
    /// </summary>
    /// <exception cref="NoTargetDiskException">No candidate other than the boot disk, or none could be opened.</exception>
    /// <exception cref="TargetDiskTooSmallException">Every candidate is too small.</exception>
    /// <exception cref="NotAnInstallerDiskException"><paramref name="bootDisk"/> is not Outpost installer media.</exception>
    public static async Task<InstallResult> InstallAsync(
        string bootDisk, IReadOnlyList<string> candidateDisks, InstallOptions options, IProgress<InstallProgress>? progress, CancellationToken cancellationToken)
    {
        var bootPath = InstallTargets.ResolvedDevice(bootDisk);
        var others = candidateDisks.Where(d => InstallTargets.ResolvedDevice(d) != bootPath).ToList();
        if (others.Count == 0)
        {
            throw new NoTargetDiskException(
                $"No disk to install onto: the only disk found is {bootDisk}, the installer itself. Attach the disk the device should run from (not removable, not read-only) and boot the installer again.");
        }

        using var source = DiskStream.OpenRead(bootDisk);
        var installer = GptDisk.Read(source);
        var tooSmall = new List<TargetDiskTooSmallException>();
        var unusable = new List<string>();
        foreach (var candidate in others)
        {
            InstallPlan plan;
            try
            {
                plan = InstallPlan.Create(bootDisk, installer, candidate, SizeOf(candidate), options);
            }
            catch (TargetDiskTooSmallException e)
            {
                progress?.Report(new InstallProgress("target", $"passing over {candidate}: {e.Message}"));
                tooSmall.Add(e);
                continue;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                progress?.Report(new InstallProgress("target", $"passing over {candidate}: cannot open it ({e.Message})"));
                unusable.Add($"{candidate}: {e.Message}");
                continue;
            }

            return await WriteAsync(bootDisk, source, candidate, plan, progress, cancellationToken).ConfigureAwait(false);
        }

        if (tooSmall.Count == 0)
        {
            throw new NoTargetDiskException($"No disk to install onto could be opened: {string.Join("; ", unusable)}. Check the disks and boot the installer again.");
        }

        if (tooSmall.Count == 1 && unusable.Count == 0)
        {
            throw tooSmall[0];
        }

        var largest = tooSmall.MaxBy(e => e.TargetBytes)!;
        throw new TargetDiskTooSmallException(
            $"No disk is large enough; each needs {InstallPlan.Size(largest.NeededBytes)}: {string.Join("; ", tooSmall.Select(e => $"{e.TargetDisk} holds {InstallPlan.Size(e.TargetBytes)}").Concat(unusable))}. Nothing was written; attach a larger disk.",
            largest.TargetDisk, largest.TargetBytes, largest.NeededBytes);
    }

    /// <summary>Installs onto <paramref name="targetDisk"/> (an image file or a block device).</summary>
    /// <exception cref="InstallRefusedException">The target is the boot disk, too small, or the boot disk is not installer media.</exception>
    public static async Task<InstallResult> InstallOntoAsync(
        string bootDisk, string targetDisk, InstallOptions options, IProgress<InstallProgress>? progress, CancellationToken cancellationToken)
    {
        if (InstallTargets.ResolvedDevice(targetDisk) == InstallTargets.ResolvedDevice(bootDisk))
        {
            throw new InstallRefusedException(
                $"Refusing to install onto {targetDisk}: it is the disk the installer booted from ({bootDisk}), and overwriting it would destroy the installer while it runs. Attach another disk and install onto that.");
        }

        using var source = DiskStream.OpenRead(bootDisk);
        var plan = InstallPlan.Create(bootDisk, GptDisk.Read(source), targetDisk, SizeOf(targetDisk), options);
        return await WriteAsync(bootDisk, source, targetDisk, plan, progress, cancellationToken).ConfigureAwait(false);
    }

    private static long SizeOf(string disk)
    {
        using var stream = DiskStream.OpenRead(disk);
        return stream.Length;
    }

    private static async Task<InstallResult> WriteAsync(
        string bootDisk, DiskStream source, string targetDisk, InstallPlan plan, IProgress<InstallProgress>? progress, CancellationToken cancellationToken)
    {
        using var target = DiskStream.OpenReadWrite(targetDisk);
        var layout = plan.Target;
        progress?.Report(new InstallProgress("target", $"installing onto {targetDisk}, {InstallPlan.Size(target.Length)}, from {bootDisk}: " +
            string.Join(", ", layout.Partitions.Select(p => $"{p.Number} {p.Name} {InstallPlan.Size(p.ByteLength)}"))));

        // The old tables go first: a power cut mid-install then leaves a disk with no partitions, rather than an old
        // GPT (perhaps an older Outpost's) pointing into half-written ones. Only the new GPT, written last, makes it bootable.
        await WipeTablesAsync(target, cancellationToken).ConfigureAwait(false);
        progress?.Report(new InstallProgress("wipe", $"cleared the first and last MiB of {targetDisk} (old partition tables)"));

        var copies = new List<VerifiedCopy>();
        foreach (var copy in plan.Copies)
        {
            var what = $"{copy.Source.Name} (partition {copy.Source.Number} of {bootDisk})";
            progress?.Report(new InstallProgress(copy.Target.Name, $"copying {what}, {InstallPlan.Size(copy.Source.ByteLength)}"));
            var window = new StreamWindow(source, copy.Source.ByteOffset, copy.Source.ByteLength);
            var written = await PartitionWriter.WriteAsync(target, copy.Target, window, new PercentProgress(copy.Target.Name, copy.Source.ByteLength, progress), cancellationToken)
                .ConfigureAwait(false);
            var sha = Convert.ToHexStringLower(written.Sha256);
            copies.Add(new VerifiedCopy(copy.Target.Name, what, written.BytesWritten, sha));
            progress?.Report(new InstallProgress(copy.Target.Name, $"copied {what} to partition {copy.Target.Number}; read back, SHA-256 {sha} matches"));
        }

        foreach (var partition in plan.Zeroed)
        {
            var zeros = new MemoryStream(new byte[Math.Min(InstallPlan.ZeroedBytes, partition.ByteLength)], writable: false);
            await PartitionWriter.WriteAsync(target, partition, zeros, null, cancellationToken).ConfigureAwait(false);
            progress?.Report(new InstallProgress(partition.Name,
                $"zeroed the first MiB of partition {partition.Number} so no stale file system is taken for the device's; it holds {InstallPlan.Size(partition.ByteLength)}"));
        }

        GptWriter.Write(target, layout);
        VerifyTable(target, layout, targetDisk);
        progress?.Report(new InstallProgress("gpt", $"wrote and read back the GPT of {targetDisk}: IMGA {PartitionState.Active.EveName}, IMGB {PartitionState.Unused.EveName}"));
        return new InstallResult(targetDisk, target.Length, layout, copies);
    }

    private static async Task WipeTablesAsync(DiskStream target, CancellationToken cancellationToken)
    {
        var zeros = new byte[PartitionPlan.MiB];
        var length = target.Length;
        foreach (var offset in new[] { 0, Math.Max(0, length - zeros.Length) })
        {
            target.Position = offset;
            await target.WriteAsync(zeros.AsMemory(0, (int)Math.Min(zeros.Length, length - offset)), cancellationToken).ConfigureAwait(false);
        }
        target.FlushToDisk();
    }

    private static void VerifyTable(DiskStream target, GptLayout expected, string targetDisk)
    {
        target.EvictCache(0, target.Length);
        var actual = GptDisk.Read(target);
        if (actual.DiskSizeBytes != expected.DiskSizeBytes || !actual.Partitions.OrderBy(p => p.Number).SequenceEqual(expected.Partitions.OrderBy(p => p.Number)))
        {
            throw new PartitionVerificationException(
                $"The GPT written to {targetDisk} reads back differently from what was written. Do not boot it; run the installer again, and check the disk if it happens again.");
        }
    }

    /// <summary>Reports a copy at every tenth of its size, synchronously so console lines stay in order.</summary>
    private sealed class PercentProgress(string step, long total, IProgress<InstallProgress>? progress) : IProgress<long>
    {
        private int _reported;

        public void Report(long value)
        {
            var tenths = total == 0 ? 10 : (int)(value * 10 / total);
            if (progress is null || tenths <= _reported || tenths >= 10)
            {
                return;
            }

            _reported = tenths;
            progress.Report(new InstallProgress(step, $"{tenths * 10}%: {InstallPlan.Size(value)}"));
        }
    }
}
