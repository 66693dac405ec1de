using Outpost.Disk.Install;

namespace Outpost.Disk.Tests.Install;

/// <summary>Disk discovery against a sysfs tree laid out as the kernel does: /sys/block/NAME links into /sys/devices.</summary>
public sealed class InstallTargetsTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Sys => _temp.File("sys");

    private void AddDisk(string name, string devicePath, long sectors = 41943040, bool readOnly = false, bool removable = false, params (int Number, string Label)[] partitions)
    {
        var directory = Path.Combine(Sys, "devices", devicePath, "block", name);
        Write(Path.Combine(directory, "uevent"), $"MAJOR=8\nMINOR=0\nDEVNAME={name.Replace('!', '/')}\nDEVTYPE=disk\n");
        Write(Path.Combine(directory, "size"), $"{sectors}\n");
        Write(Path.Combine(directory, "ro"), readOnly ? "1\n" : "0\n");
        Write(Path.Combine(directory, "removable"), removable ? "1\n" : "0\n");
        Link(Path.Combine(Sys, "block", name), directory);
        Link(Path.Combine(Sys, "class", "block", name), directory);
        foreach (var (number, label) in partitions)
        {
            var partition = Path.Combine(directory, name + number);
            Write(Path.Combine(partition, "uevent"), $"MAJOR=8\nMINOR={number}\nDEVNAME={name}{number}\nDEVTYPE=partition\nPARTN={number}\nPARTNAME={label}\n");
            Link(Path.Combine(Sys, "class", "block", name + number), partition);
        }
    }

    [Fact]
    public void DiscoveryOffersWholeDisksInNameOrderAndSaysWhyItPassedOverTheRest()
    {
        AddDisk("vda", "pci0000:00/0000:00:02.0/virtio1", partitions: [(6, "INSTALLER")]);
        AddDisk("vdb", "pci0000:00/0000:00:03.0/virtio2");
        AddDisk("sda", "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0");
        AddDisk("sdb", "pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0", removable: true);
        AddDisk("sdc", "pci0000:00/0000:00:14.0/usb1/1-2/host3/target3:0:0/3:0:0:0", sectors: 0);
        AddDisk("mmcblk0boot0", "platform/mmc0/mmc_host/mmc0/mmc0:0001", readOnly: true);
        AddDisk("loop0", "virtual");
        AddDisk("zram0", "virtual");
        AddDisk("sr0", "pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0");
        AddDisk("dm-0", "virtual");
        AddDisk("xvdz", "virtual");

        var found = InstallTargets.Discover("/dev/vda", Sys);

        Assert.Equal(["/dev/sda", "/dev/vdb"], found.Candidates);
        Assert.Equal(
            "dm-0: a dm device, not a disk that keeps the installation; loop0: a loop device, not a disk that keeps the installation; " +
            "mmcblk0boot0: read-only; sdb: removable medium; sdc: no medium (size 0); sr0: a sr device, not a disk that keeps the installation; " +
            "vda: the disk the installer booted from; xvdz: a virtual device, not a disk that keeps the installation; zram0: a zram device, not a disk that keeps the installation",
            found.DescribeSkipped());
    }

    [Fact]
    public void ADeviceNameWithASlashIsOfferedUnderItsDevName()
    {
        AddDisk("cciss!c0d0", "pci0000:00/0000:00:04.0/cciss0");

        Assert.Equal(["/dev/cciss/c0d0"], InstallTargets.Discover("/dev/vda", Sys).Candidates);
    }

    [Fact]
    public void TheBootDiskIsTheDiskHoldingTheInstallerPartition()
    {
        AddDisk("sda", "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0", partitions: [(2, "IMGA"), (3, "IMGB")]);
        AddDisk("sdb", "pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0", removable: true, partitions: [(1, "EFI System"), (6, "INSTALLER")]);

        Assert.Equal("/dev/sdb", InstallerMedia.FindBootDisk(Sys));
    }

    [Fact]
    public void WithoutAnInstallerPartitionTheBootDiskIsUnknownAndSaysSo()
    {
        AddDisk("sda", "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0", partitions: [(2, "IMGA")]);

        var refused = Assert.Throws<NotAnInstallerDiskException>(() => InstallerMedia.FindBootDisk(Sys));

        Assert.Contains("No partition named INSTALLER is listed", refused.Message);
    }

    private static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    private static void Link(string link, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        File.CreateSymbolicLink(link, Path.GetRelativePath(Path.GetDirectoryName(link)!, target));
    }
}
