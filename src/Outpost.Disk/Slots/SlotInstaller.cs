namespace Outpost.Disk.Slots;

/// <summary>A complete OS image for a slot: its rootfs (squashfs), boot payload, version and kernel options.</summary>
/// <param name="OpenRootfs">Opens the rootfs from its start; seekable (its length is checked against the slot first).</param>
public sealed record SlotImage(string Version, Func<Stream> OpenRootfs, BootPayload Payload, string Cmdline);

/// <summary>Where an install stands; reported while it runs.</summary>
public enum SlotInstallStep { ResettingSlot, InstallingBootPayload, WritingRootfs, MarkingUpdating, Done }

/// <summary>
/// Installs an image into the slot that is not running, the same sequence every time, each step safe to repeat: the
/// slot is taken out of the boot order (unused, no entry), its boot payload goes on the ESP, its rootfs is streamed in
/// and read back, and only then is it marked updating with its one-try entry. Killed or cut at any point, the disk
/// still boots the running slot, and running this again finishes the job.
/// </summary>
public static class SlotInstaller
{
    public static async Task<PartitionWriteResult> InstallAsync(AbSlots slots, string running, SlotImage image,
        IProgress<(SlotInstallStep Step, long Bytes)>? progress, CancellationToken cancellationToken)
    {
        var target = AbSlots.OtherOf(running);
        if (slots.State(running) is var state && !state.IsBootable)
            throw new SlotLayoutException($"The running slot {running} is {state.EveName ?? state.ToString()} and not bootable: refusing to touch {target}, which may be the only good one.");

        await using var rootfs = image.OpenRootfs();
        var slotBytes = slots.Partition(target).ByteLength;
        if (rootfs.Length - rootfs.Position > slotBytes)
            throw new PartitionTooSmallException(
                $"The rootfs of {image.Version} is {rootfs.Length - rootfs.Position} bytes but slot {target} holds only {slotBytes}; nothing was written. Build a smaller image or reinstall the device with larger slots.");

        progress?.Report((SlotInstallStep.ResettingSlot, 0));
        slots.ResetToUnused(target);
        progress?.Report((SlotInstallStep.InstallingBootPayload, 0));
        slots.InstallPayload(target, image.Payload);
        progress?.Report((SlotInstallStep.WritingRootfs, 0));
        var written = await slots.WriteRootfsAsync(target, rootfs,
            progress is null ? null : new Progress<long>(b => progress.Report((SlotInstallStep.WritingRootfs, b))), cancellationToken).ConfigureAwait(false);
        if (slots.Payload(target) is not { } payload || !payload.Kernel.AsSpan().SequenceEqual(image.Payload.Kernel) || !payload.Initrd.AsSpan().SequenceEqual(image.Payload.Initrd))
            throw new PartitionVerificationException($"The kernel or initramfs of {target} reads back differently from what was written to the ESP; {target} stays unused. Check the disk.");
        progress?.Report((SlotInstallStep.MarkingUpdating, written.BytesWritten));
        slots.MarkUpdating(target, image.Version, image.Cmdline);
        progress?.Report((SlotInstallStep.Done, written.BytesWritten));
        return written;
    }
}
