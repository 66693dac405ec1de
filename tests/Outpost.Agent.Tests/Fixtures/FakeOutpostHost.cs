using Outpost.Agent.Reporting;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>
/// A host booted from an Outpost disk, in a temp folder: /etc/outpost-release, a kernel command line with
/// root=PARTLABEL=..., /proc/self/mounts, the sysfs uevent files of each disk and its partitions (linked from
/// /sys/class/block as the kernel links them), and each disk under /dev as a real GPT image file.
/// </summary>
public sealed class FakeOutpostHost : IDisposable
{
    private const long Sector = GptLayout.SectorSize;
    private const long MiBSectors = 1024 * 1024 / Sector;
    private readonly TempDirectory _temp = new();

    public FakeOutpostHost(string bootLabel = "IMGA", string release = "VERSION=1.4.0\nARCH=amd64\nHV=kvm\nPLATFORM=generic\n")
    {
        Roots = HostRoots.Under(_temp.Path);
        Write(Path.Combine(Roots.Etc, "os-release"), "NAME=BusyBox\nPRETTY_NAME=\"BusyBox userland\"\n");
        if (release.Length > 0)
        {
            Write(Path.Combine(Roots.Etc, OutpostRelease.FileName), release);
        }

        Write(Path.Combine(Roots.Proc, "cmdline"), $"BOOT_IMAGE=/EFI/outpost/{bootLabel}/vmlinuz root=PARTLABEL={bootLabel} console=ttyS0\n");
        Write(Path.Combine(Roots.Proc, "sys", "kernel", "osrelease"), "6.1.0-outpost\n");
        // The collector also reports memory and boot time; the real host's files are as good as any.
        File.Copy("/proc/meminfo", Path.Combine(Roots.Proc, "meminfo"));
        File.Copy("/proc/stat", Path.Combine(Roots.Proc, "stat"));
        MountRoot($"/dev/vda{(bootLabel == EvePartitions.ImgbName ? 3 : 2)}");
        StateDirectory = _temp.Sub("state");
    }

    public HostRoots Roots { get; }

    public string StateDirectory { get; }

    public string DiskPath(string disk) => Path.Combine(Roots.Dev, disk);

    /// <summary>Writes /proc/self/mounts with <paramref name="device"/> as the squashfs mounted at /.</summary>
    public void MountRoot(string device) =>
        Write(Path.Combine(Roots.Proc, "self", "mounts"), $"{device} / squashfs ro,relatime 0 0\nproc /proc proc rw 0 0\n");

    /// <summary>
    /// Adds disk <paramref name="disk"/> with EVE's live layout (ESP, IMGA, IMGB, CONFIG, P3) to sysfs, and to /dev
    /// as a GPT image whose IMGA and IMGB carry the given A/B states.
    /// </summary>
    public GptLayout AddOutpostDisk(string disk, PartitionState imga, PartitionState imgb)
    {
        GptPartition Part(int number, string name, Guid type, Guid unique, long index, ulong attributes) =>
            new(number, type, unique, (index + 1) * MiBSectors, (index + 2) * MiBSectors - 1, attributes, name);
        var layout = new GptLayout(7 * MiBSectors * Sector, EvePartitions.DiskGuid,
        [
            Part(EvePartitions.EfiNumber, EvePartitions.EfiName, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid, 0, EvePartitions.LegacyBiosBootableAttribute),
            Part(EvePartitions.ImgaNumber, EvePartitions.ImgaName, EvePartitions.UsrType, EvePartitions.ImgaUniqueGuid, 1, imga.Encode(0)),
            Part(EvePartitions.ImgbNumber, EvePartitions.ImgbName, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid, 2, imgb.Encode(0)),
            Part(EvePartitions.ConfigNumber, EvePartitions.ConfigName, EvePartitions.ConfigType, EvePartitions.ConfigUniqueGuid, 3, 0),
            Part(EvePartitions.PersistNumber, EvePartitions.PersistName, EvePartitions.PersistType, EvePartitions.PersistUniqueGuid, 4, 0),
        ]);
        Directory.CreateDirectory(Roots.Dev);
        using (var image = File.Create(DiskPath(disk)))
        {
            GptWriter.Write(image, layout);
        }

        AddSysfsDisk(disk, layout.Partitions.Select(p => (p.Number, p.Name)));
        return layout;
    }

    /// <summary>The uevent files the kernel shows for a disk and its partitions, under a PCI path like a virtio disk's.</summary>
    public void AddSysfsDisk(string disk, IEnumerable<(int Number, string Name)> partitions)
    {
        var diskDirectory = Path.Combine(Roots.Sys, "devices", "pci0000:00", "0000:00:02.0", "virtio1", "block", disk);
        Write(Path.Combine(diskDirectory, "uevent"), $"MAJOR=253\nMINOR=0\nDEVNAME={disk}\nDEVTYPE=disk\nDISKSEQ=9\n");
        Link(disk, diskDirectory);
        foreach (var (number, name) in partitions)
        {
            var partition = disk + number;
            var directory = Path.Combine(diskDirectory, partition);
            Write(Path.Combine(directory, "uevent"), $"MAJOR=253\nMINOR={number}\nDEVNAME={partition}\nDEVTYPE=partition\nDISKSEQ=9\nPARTN={number}\nPARTNAME={name}\n");
            Link(partition, directory);
        }
    }

    public void Dispose() => _temp.Dispose();

    // /sys/class/block/NAME -> ../../devices/.../NAME, relative as the kernel makes it.
    private void Link(string name, string target)
    {
        var classBlock = Path.Combine(Roots.Sys, "class", "block");
        Directory.CreateDirectory(classBlock);
        File.CreateSymbolicLink(Path.Combine(classBlock, name), Path.GetRelativePath(classBlock, target));
    }

    private static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
