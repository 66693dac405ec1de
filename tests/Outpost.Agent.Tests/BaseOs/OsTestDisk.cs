using System.Security.Cryptography;
using System.Text;
using Outpost.Disk;
using Outpost.Disk.Boot;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Disk.Slots;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// A disk image file with EVE's A/B layout, made with our own writers as tests/Outpost.PowerCut's DiskScenario makes
/// it: GPT (ESP, IMGA, IMGB with EVE's numbers, names and type GUIDs), a small FAT ESP holding loader.conf, the entry
/// and EFI/outpost/IMGA/{vmlinuz,initrd.img}, IMGA active holding the installed version's rootfs, IMGB unused and full
/// of junk. Everything a test does to it besides reading goes through <see cref="AbSlots"/> and <see cref="SlotInstaller"/>.
/// </summary>
public sealed class OsTestDisk
{
    public const long SlotBytes = 4 * PartitionPlan.MiB;
    public const string Cmdline = "console=ttyS0 rootwait ro";
    private const int EspMiB = 3;

    private OsTestDisk(string path) => Path = path;

    public string Path { get; }

    /// <summary>Makes the disk at <paramref name="path"/> with <paramref name="installed"/> in IMGA (active).</summary>
    public static OsTestDisk Create(string path, OsBuild installed)
    {
        var layout = PartitionPlan.Layout(
        [
            new PartitionSpec(EvePartitions.EfiNumber, EvePartitions.EfiName, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid, EspMiB * PartitionPlan.MiB, EvePartitions.LegacyBiosBootableAttribute),
            new PartitionSpec(EvePartitions.ImgaNumber, EvePartitions.ImgaName, EvePartitions.UsrType, EvePartitions.ImgaUniqueGuid, SlotBytes, PartitionState.Active.Encode(0)),
            new PartitionSpec(EvePartitions.ImgbNumber, EvePartitions.ImgbName, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid, SlotBytes, PartitionState.Unused.Encode(0)),
        ]);
        var disk = new byte[layout.DiskSizeBytes];
        using (var stream = new MemoryStream(disk, writable: true))
        {
            GptWriter.Write(stream, layout);
        }

        var esp = layout.Find(EvePartitions.EfiNumber)!;
        var imga = layout.Find(EvePartitions.ImgaNumber)!;
        var imgb = layout.Find(EvePartitions.ImgbNumber)!;
        using (var volume = new MemoryStream())
        {
            var options = new FatVolumeOptions(esp.ByteLength, "EFI", new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc), 0x07A5E001u) { HiddenSectors = (uint)esp.FirstLba };
            FatWriter.WriteAsync(volume, EspTree(installed), options).GetAwaiter().GetResult();
            volume.ToArray().CopyTo(disk, esp.ByteOffset);
        }

        OsBuild.Noise((int)imga.ByteLength, 7).CopyTo(disk, imga.ByteOffset);
        installed.Rootfs.CopyTo(disk, imga.ByteOffset);
        OsBuild.Noise((int)imgb.ByteLength, 8).CopyTo(disk, imgb.ByteOffset);
        File.WriteAllBytes(path, disk);
        return new OsTestDisk(path);
    }

    private static FatDirectory EspTree(OsBuild installed)
    {
        var root = FatDirectory.CreateRoot();
        root.AddFile("EFI/BOOT/BOOTX64.EFI", OsBuild.Noise(24 * 1024, 3));
        root.AddFile("loader/loader.conf", Encoding.ASCII.GetBytes(SystemdBootEntries.LoaderConf));
        root.AddDirectory(SystemdBootEntries.EntriesDirectory);
        root.AddFile(SystemdBootEntries.KernelPath(EvePartitions.ImgaName), installed.Kernel);
        root.AddFile(SystemdBootEntries.InitrdPath(EvePartitions.ImgaName), installed.Initrd);
        var entry = SystemdBootEntries.For(EvePartitions.ImgaName, PartitionState.Active, installed.Version, Cmdline)!;
        root.AddFile($"{SystemdBootEntries.EntriesDirectory}/{entry.FileName}", Encoding.UTF8.GetBytes(entry.Content));
        return root;
    }

    public DiskStream OpenRead() => DiskStream.OpenRead(Path);

    public PartitionState State(string label)
    {
        using var disk = OpenRead();
        return GptDisk.Read(disk).FindByName(label)!.State;
    }

    /// <summary>The file names in loader/entries, sorted.</summary>
    public IReadOnlyList<string> EntryFiles()
    {
        using var disk = OpenRead();
        return AbSlots.Open(disk).Entries().Select(e => e.Name.FileName).Order(StringComparer.Ordinal).ToList();
    }

    public BootPayload? Payload(string label)
    {
        using var disk = OpenRead();
        return AbSlots.Open(disk).Payload(label);
    }

    /// <summary>The first <paramref name="length"/> bytes of a slot.</summary>
    public byte[] SlotBytesOf(string label, int length)
    {
        using var disk = OpenRead();
        var partition = GptDisk.Read(disk).FindByName(label)!;
        var bytes = new byte[length];
        disk.Position = partition.ByteOffset;
        disk.ReadExactly(bytes);
        return bytes;
    }

    public bool SlotHolds(string label, OsBuild build) => SlotBytesOf(label, build.Rootfs.Length).AsSpan().SequenceEqual(build.Rootfs);

    public string Sha256() => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path)));

    /// <summary>What the firmware boots next: gptprio's choice (GRUB) and systemd-boot's entry's root, which must agree.</summary>
    public (string? Gptprio, string? SystemdBoot) NextBoot()
    {
        using var disk = OpenRead();
        var gpt = BootSelection.Choose(GptDisk.Read(disk).Partitions)?.Partition.Name;
        var loader = SystemdBootSelection.Choose(AbSlots.Open(disk).Entries())?.Entry.RootPartLabel;
        return (gpt, loader);
    }

    /// <summary>Installs <paramref name="build"/> into the slot that is not <paramref name="running"/>, as the agent does.</summary>
    public void Install(OsBuild build, string running)
    {
        using var disk = DiskStream.OpenReadWrite(Path);
        SlotInstaller.InstallAsync(AbSlots.Open(disk), running, build.ToSlotImage(Cmdline), null, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>The firmware's part of a boot: systemd-boot picks an entry and, when it is counted, renames it before booting it.</summary>
    public string FirmwareBoot()
    {
        using var disk = DiskStream.OpenReadWrite(Path);
        var choice = SystemdBootSelection.Choose(AbSlots.Open(disk).Entries()) ?? throw new InvalidOperationException("systemd-boot finds no entry to boot");
        if (choice.Renames)
        {
            var gpt = GptDisk.Read(disk).Partitions.First(p => p.TypeGuid == EvePartitions.EfiSystemType);
            var esp = FatVolumeEditor.Open(new PartitionStream(disk, gpt.ByteOffset, gpt.ByteLength));
            var from = $"{SystemdBootEntries.EntriesDirectory}/{choice.Entry.Name.FileName}";
            esp.WriteFile($"{SystemdBootEntries.EntriesDirectory}/{choice.NameAfterAttempt.FileName}", esp.ReadFile(from));
            esp.Delete(from);
        }

        return choice.Entry.RootPartLabel!;
    }

    /// <summary>What the agent does after a boot (inprogress for a slot that spent its try), then a commit, as after a good test window.</summary>
    public void ReconcileAndCommit(string booted, Func<string, string> versionOf)
    {
        using var disk = DiskStream.OpenReadWrite(Path);
        var slots = AbSlots.Open(disk);
        slots.ReconcileAfterBoot(booted, Cmdline, versionOf);
        slots.Commit(booted, versionOf(booted), Cmdline);
    }

    /// <summary>Only the boot loader's step after a boot: the slot that spent its try becomes inprogress.</summary>
    public void ReconcileAfterBoot(string booted, Func<string, string> versionOf)
    {
        using var disk = DiskStream.OpenReadWrite(Path);
        AbSlots.Open(disk).ReconcileAfterBoot(booted, Cmdline, versionOf);
    }
}
