using System.Text;
using Outpost.Disk;
using Outpost.Disk.Boot;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Disk.Slots;

namespace Outpost.PowerCut;

/// <summary>The phases of the update scenario, in order; the child prints <c>phase NAME</c> as it enters each.</summary>
public static class Phases
{
    public const string Start = "start";
    public const string Reset = "reset";
    public const string Payload = "payload";
    public const string Rootfs = "rootfs";
    public const string MarkUpdating = "mark-updating";
    public const string Boot = "boot";
    public const string Reconcile = "reconcile";
    public const string Commit = "commit";
    public const string Done = "done";

    public static IReadOnlyList<string> All { get; } = [Start, Reset, Payload, Rootfs, MarkUpdating, Boot, Reconcile, Commit, Done];

    /// <summary>The phases that write to the disk (every cut harness must land cuts in each).</summary>
    public static IReadOnlyList<string> Writing { get; } = [Payload, Rootfs, MarkUpdating, Boot, Reconcile, Commit];

    public static int Order(string phase) => All.ToList().IndexOf(phase);

    public static string Of(SlotInstallStep step) => step switch
    {
        SlotInstallStep.ResettingSlot => Reset,
        SlotInstallStep.InstallingBootPayload => Payload,
        SlotInstallStep.WritingRootfs => Rootfs,
        SlotInstallStep.MarkingUpdating => MarkUpdating,
        _ => Boot,
    };
}

/// <summary>The update the scenario runs: the real code, or a deliberately unsafe order that shows the harness can fail.</summary>
public enum ScenarioVariant
{
    /// <summary><see cref="SlotInstaller.InstallAsync"/>, the firmware boot, <see cref="AbSlots.ReconcileAfterBoot"/>, <see cref="AbSlots.Commit"/>.</summary>
    Real,

    /// <summary>A broken installer that marks IMGB updating before its rootfs is written: a cut in the rootfs write leaves a half-written slot that gptprio and systemd-boot boot.</summary>
    MarkBeforeRootfs,
}

/// <summary>What systemd-boot did on one simulated boot: the entry it chose (as it was before its rename) and the slot its kernel mounts.</summary>
public sealed record FirmwareBoot(LoaderChoice Choice, string? RootLabel);

/// <summary>
/// The disk the harness starts from and the update it runs on it. The disk is made with our own writers (GPT with
/// EVE's numbers and names, a small FAT ESP with the tree the image builder makes): IMGA active with v1's rootfs and
/// boot payload and entry, IMGB unused and full of junk. The scenario is what the agent does for one update: install
/// v2 into IMGB, reboot (the firmware's systemd-boot picks and renames the counted entry), reconcile, commit.
/// </summary>
public static class DiskScenario
{
    public const long SlotBytes = 8 * PartitionPlan.MiB;
    public const int DefaultEspMiB = 3;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, Lazy<byte[]>> Templates = new();

    /// <summary>The fresh disk image: GPT, ESP, IMGA (v1, active), IMGB (junk, unused). Deterministic; a new copy each call.</summary>
    public static byte[] BuildDisk(int espMiB = DefaultEspMiB) =>
        Templates.GetOrAdd(espMiB, size => new Lazy<byte[]>(() => Build(size))).Value.ToArray();

    private static byte[] Build(int espMiB)
    {
        var layout = PartitionPlan.Layout(
        [
            new PartitionSpec(EvePartitions.EfiNumber, EvePartitions.EfiName, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid, espMiB * PartitionPlan.MiB, EvePartitions.LegacyBiosBootableAttribute),
            new PartitionSpec(EvePartitions.ImgaNumber, EvePartitions.ImgaName, EvePartitions.UsrType, EvePartitions.ImgaUniqueGuid, SlotBytes, PartitionState.Active.Encode(0)),
            new PartitionSpec(EvePartitions.ImgbNumber, EvePartitions.ImgbName, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid, SlotBytes, PartitionState.Unused.Encode(0)),
        ]);
        var disk = new byte[layout.DiskSizeBytes];
        using (var stream = new MemoryStream(disk, writable: true))
            GptWriter.Write(stream, layout);

        var esp = layout.Find(EvePartitions.EfiNumber)!;
        var imga = layout.Find(EvePartitions.ImgaNumber)!;
        var imgb = layout.Find(EvePartitions.ImgbNumber)!;

        using (var volume = new MemoryStream())
        {
            var options = new FatVolumeOptions(esp.ByteLength, "EFI", new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc), 0x07A5E001u)
            {
                HiddenSectors = (uint)esp.FirstLba,
            };
            FatWriter.WriteAsync(volume, EspTree(), options).GetAwaiter().GetResult();
            volume.ToArray().CopyTo(disk, esp.ByteOffset);
        }

        var v1 = OsImages.V1;
        OsImages.Noise((int)imga.ByteLength, 7).CopyTo(disk, imga.ByteOffset);
        v1.Rootfs.CopyTo(disk, imga.ByteOffset);
        OsImages.Noise((int)imgb.ByteLength, 8).CopyTo(disk, imgb.ByteOffset);
        return disk;
    }

    /// <summary>The ESP as the image builder lays it out (EspContents), for one active IMGA running v1.</summary>
    private static FatDirectory EspTree()
    {
        var v1 = OsImages.V1;
        var root = FatDirectory.CreateRoot();
        root.AddFile("EFI/BOOT/BOOTX64.EFI", OsImages.Noise(24 * 1024, 3));
        root.AddFile("loader/loader.conf", Encoding.ASCII.GetBytes(SystemdBootEntries.LoaderConf));
        root.AddDirectory(SystemdBootEntries.EntriesDirectory);
        root.AddFile(SystemdBootEntries.KernelPath(EvePartitions.ImgaName), v1.Kernel);
        root.AddFile(SystemdBootEntries.InitrdPath(EvePartitions.ImgaName), v1.Initrd);
        var entry = SystemdBootEntries.For(EvePartitions.ImgaName, PartitionState.Active, v1.Version, OsImages.Cmdline)!;
        root.AddFile($"{SystemdBootEntries.EntriesDirectory}/{entry.FileName}", Encoding.UTF8.GetBytes(entry.Content));
        return root;
    }

    /// <summary>
    /// The update as the child process runs it, phase by phase: install v2 into IMGB (reset, boot payload, rootfs,
    /// mark updating), the firmware's boot (systemd-boot's choice and rename), the agent's reconcile, the commit.
    /// </summary>
    public static async Task RunAsync(Stream disk, Action<string> phase, ScenarioVariant variant = ScenarioVariant.Real, CancellationToken cancellationToken = default)
    {
        var current = Phases.Start;
        var gate = new object();
        void Enter(string next)
        {
            // Install progress for the rootfs arrives late from the thread pool; phases only move forward.
            lock (gate)
            {
                if (Phases.Order(next) <= Phases.Order(current)) return;
                current = next;
            }
            phase(next);
        }

        phase(Phases.Start);
        var slots = AbSlots.Open(disk);
        if (variant == ScenarioVariant.MarkBeforeRootfs)
        {
            Enter(Phases.Reset);
            slots.ResetToUnused(EvePartitions.ImgbName);
            Enter(Phases.Payload);
            slots.InstallPayload(EvePartitions.ImgbName, OsImages.V2.Payload);
            Enter(Phases.Rootfs);
            slots.MarkUpdating(EvePartitions.ImgbName, OsImages.V2.Version, OsImages.Cmdline);
            await using var rootfs = new MemoryStream(OsImages.V2.Rootfs, writable: false);
            await PartitionWriter.WriteAsync(disk, slots.Partition(EvePartitions.ImgbName), rootfs, null, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await SlotInstaller.InstallAsync(slots, EvePartitions.ImgaName, OsImages.V2.ToSlotImage(OsImages.Cmdline),
                new SyncProgress(p => Enter(Phases.Of(p.Step))), cancellationToken).ConfigureAwait(false);
        }

        Enter(Phases.Boot);
        var boot = Firmware.Boot(disk) ?? throw new InvalidOperationException("After the install systemd-boot finds no entry to boot.");
        if (boot.RootLabel != EvePartitions.ImgbName)
            throw new InvalidOperationException($"After the install systemd-boot boots {boot.Choice.Entry.Name.FileName} (root {boot.RootLabel}), not the updated IMGB.");

        Enter(Phases.Reconcile);
        var state = slots.ReconcileAfterBoot(EvePartitions.ImgbName, OsImages.Cmdline, label => label == EvePartitions.ImgbName ? OsImages.V2.Version : OsImages.V1.Version);
        if (state != PartitionState.InProgress)
            throw new InvalidOperationException($"After booting the update IMGB is {state}, not inprogress.");

        Enter(Phases.Commit);
        slots.Commit(EvePartitions.ImgbName, OsImages.V2.Version, OsImages.Cmdline);
        Enter(Phases.Done);
    }

    /// <summary>An IProgress that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool, too late to mark a phase).</summary>
    private sealed class SyncProgress(Action<(SlotInstallStep Step, long Bytes)> report) : IProgress<(SlotInstallStep Step, long Bytes)>
    {
        public void Report((SlotInstallStep Step, long Bytes) value) => report(value);
    }
}

/// <summary>
/// The firmware's part of a boot, as a real machine does it: systemd-boot reads the entries on the ESP, picks one with
/// <see cref="SystemdBootSelection.Choose"/> and, when it is counted, renames it (one try less, one done more) before
/// it boots it. The rename goes through the same ESP editor and the same disk stream as the agent's writes.
/// </summary>
public static class Firmware
{
    public static FirmwareBoot? Boot(Stream disk)
    {
        var slots = AbSlots.Open(disk);
        var choice = SystemdBootSelection.Choose(slots.Entries());
        if (choice is null) return null;
        if (choice.Renames)
        {
            var esp = OpenEsp(disk);
            var from = $"{SystemdBootEntries.EntriesDirectory}/{choice.Entry.Name.FileName}";
            var to = $"{SystemdBootEntries.EntriesDirectory}/{choice.NameAfterAttempt.FileName}";
            // UEFI's FAT driver renames by writing the new directory entry and then removing the old one.
            esp.WriteFile(to, esp.ReadFile(from));
            esp.Delete(from);
        }
        return new FirmwareBoot(choice, choice.Entry.RootPartLabel);
    }

    public static FatVolumeEditor OpenEsp(Stream disk)
    {
        var esp = GptDisk.Read(disk).Partitions.First(p => p.TypeGuid == EvePartitions.EfiSystemType);
        return FatVolumeEditor.Open(new PartitionStream(disk, esp.ByteOffset, esp.ByteLength));
    }
}
