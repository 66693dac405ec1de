using Outpost.Disk.Gpt;
using Outpost.Image.Build;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Disks;

public sealed class LiveDiskTests(ExampleBuild build) : IClassFixture<ExampleBuild>
{
    [Fact]
    public async Task Sgdisk_verifies_live_raw_without_problems()
    {
        var result = await Tools.RunAsync("sgdisk", "-v", build.Artifact(ImageBuilder.LiveRaw));
        Assert.True(result.ExitCode == 0 && result.Stdout.Contains("No problems found"), result.All);
    }

    [Fact]
    public async Task Live_raw_has_eve_partition_numbers_names_and_types()
    {
        var result = await Tools.RunAsync("sgdisk", "-p", build.Artifact(ImageBuilder.LiveRaw));
        var lines = result.Stdout.Split('\n').Select(l => l.Trim()).ToList();
        string Row(int number) => lines.Single(l => l.StartsWith($"{number} ", StringComparison.Ordinal));
        Assert.EndsWith("EF00  EFI System", Row(1));
        Assert.EndsWith("IMGA", Row(2));
        Assert.EndsWith("IMGB", Row(3));
        Assert.EndsWith("CONFIG", Row(4));
        Assert.EndsWith("P3", Row(9));
        var config = await Tools.RunAsync("sgdisk", "-i", "4", build.Artifact(ImageBuilder.LiveRaw));
        Assert.Contains("13307E62-CD9C-4920-8F9B-91B45828B798", config.Stdout);
        var persist = await Tools.RunAsync("sgdisk", "-i", "9", build.Artifact(ImageBuilder.LiveRaw));
        Assert.Contains("5F24425A-2DFA-11E8-A270-7B663FACCC2C", persist.Stdout);
    }

    [Fact]
    public async Task Imga_is_active_0x102_and_imgb_unused()
    {
        var imga = await Tools.RunAsync("sgdisk", "-i", "2", build.Artifact(ImageBuilder.LiveRaw));
        Assert.Contains("Attribute flags: 0102000000000000", imga.Stdout);
        Assert.Contains("5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", imga.Stdout);
        Assert.Contains("AD6871EE-31F9-4CF3-9E09-6F7A25C30052", imga.Stdout);
        var imgb = await Tools.RunAsync("sgdisk", "-i", "3", build.Artifact(ImageBuilder.LiveRaw));
        Assert.Contains("Attribute flags: 0000000000000000", imgb.Stdout);
    }

    [Fact]
    public async Task Esp_and_config_partitions_pass_fsck_fat()
    {
        await using var disk = File.OpenRead(build.Artifact(ImageBuilder.LiveRaw));
        var layout = GptDisk.Read(disk);
        using var temp = new TempDirectory();
        foreach (var number in new[] { EvePartitions.EfiNumber, EvePartitions.ConfigNumber })
        {
            var partition = layout.Find(number)!;
            var volume = temp.Combine($"p{number}.img");
            await Tools.ExtractAsync(build.Artifact(ImageBuilder.LiveRaw), partition.ByteOffset, partition.ByteLength, volume);
            var fsck = await Tools.RunAsync("fsck.fat", "-n", "-v", volume);
            Assert.True(fsck.ExitCode == 0, $"fsck.fat on partition {number}: {fsck.All}");
        }
    }

    [Fact]
    public async Task Esp_holds_systemd_boot_kernel_initrd_and_an_entry_for_imga()
    {
        await using var disk = File.OpenRead(build.Artifact(ImageBuilder.LiveRaw));
        var esp = GptDisk.Read(disk).Find(EvePartitions.EfiNumber)!;
        var image = $"{build.Artifact(ImageBuilder.LiveRaw)}@@{esp.ByteOffset}";
        var listing = await Tools.RunAsync("mdir", "-/", "-b", "-i", image, "::");
        Assert.True(listing.ExitCode == 0, listing.All);
        Assert.Contains("::/EFI/BOOT/BOOTX64.EFI", listing.Stdout);
        Assert.Contains("::/EFI/outpost/IMGA/vmlinuz", listing.Stdout);
        Assert.Contains("::/EFI/outpost/IMGA/initrd.img", listing.Stdout);
        var entry = await Tools.RunAsync("mtype", "-i", image, "::/loader/entries/outpost-imga.conf");
        Assert.Contains("options root=PARTLABEL=IMGA console=ttyS0", entry.Stdout);
        Assert.Contains("version 2", entry.Stdout);
        using var temp = new TempDirectory();
        var copied = temp.Combine("BOOTX64.EFI");
        var copy = await Tools.RunAsync("mcopy", "-i", image, "::/EFI/BOOT/BOOTX64.EFI", copied);
        Assert.True(copy.ExitCode == 0, copy.All);
        Assert.Equal(await File.ReadAllBytesAsync("/usr/lib/systemd/boot/efi/systemd-bootx64.efi"), await File.ReadAllBytesAsync(copied));
    }

    [Fact]
    public async Task The_output_holds_the_exact_kernel_and_initramfs_the_esp_boots()
    {
        await using var disk = File.OpenRead(build.Artifact(ImageBuilder.LiveRaw));
        var esp = GptDisk.Read(disk).Find(EvePartitions.EfiNumber)!;
        var image = $"{build.Artifact(ImageBuilder.LiveRaw)}@@{esp.ByteOffset}";
        using var temp = new TempDirectory();
        foreach (var (onEsp, inOutput) in new[] { ("::/EFI/outpost/IMGA/vmlinuz", ImageBuilder.KernelFile), ("::/EFI/outpost/IMGA/initrd.img", ImageBuilder.InitrdFile) })
        {
            var copied = temp.Combine(Path.GetFileName(inOutput));
            var copy = await Tools.RunAsync("mcopy", "-i", image, onEsp, copied);
            Assert.True(copy.ExitCode == 0, copy.All);
            var fromEsp = await File.ReadAllBytesAsync(copied);
            var fromOutput = await File.ReadAllBytesAsync(build.Artifact(inOutput));
            Assert.True(fromEsp.SequenceEqual(fromOutput), $"{inOutput} differs from {onEsp} on the ESP");
            var artifact = build.Summary.Get(inOutput);
            Assert.Equal(build.Artifact(inOutput), artifact.Path);
            Assert.Equal(new FileInfo(copied).Length, artifact.SizeBytes);
        }
    }

    [Fact]
    public async Task Config_partition_holds_the_config_folder()
    {
        var image = $"{build.Artifact(ImageBuilder.ConfigImg)}";
        var server = await Tools.RunAsync("mtype", "-i", image, "::/server");
        Assert.Equal("controller.example.test:443\n", server.Stdout);
        var listing = await Tools.RunAsync("mdir", "-/", "-b", "-i", image, "::");
        Assert.Contains("::/DevicePortConfig/override.json", listing.Stdout);
        Assert.Contains("::/root-certificate.pem", listing.Stdout);
    }

    [Fact]
    public async Task Rootfs_img_is_a_squashfs_unsquashfs_can_list()
    {
        var result = await Tools.RunAsync("unsquashfs", "-l", build.Artifact(ImageBuilder.RootfsImg));
        Assert.True(result.ExitCode == 0, result.All);
        foreach (var path in new[] { "boot/kernel", "boot/cmdline", "bin/busybox", "sbin/init", "etc/outpost-release", "etc/motd",
                     "containers/onboot/000-hello/rootfs/bin/busybox", "containers/services/marker/config.json", "containers/services/marker/runtime.json" })
            Assert.Contains("squashfs-root/" + path + "\n", result.Stdout);
    }

    [Fact]
    public async Task Imga_holds_rootfs_img_byte_for_byte()
    {
        await using var disk = File.OpenRead(build.Artifact(ImageBuilder.LiveRaw));
        var imga = GptDisk.Read(disk).Find(EvePartitions.ImgaNumber)!;
        var expected = await File.ReadAllBytesAsync(build.Artifact(ImageBuilder.RootfsImg));
        var actual = new byte[expected.Length];
        disk.Position = imga.ByteOffset;
        await disk.ReadExactlyAsync(actual);
        Assert.True(expected.AsSpan().SequenceEqual(actual), "IMGA does not start with rootfs.img");
    }

    [Fact]
    public async Task Installer_raw_has_conf_win_with_microsoft_basic_data_type_and_an_active_installer()
    {
        var verify = await Tools.RunAsync("sgdisk", "-v", build.Artifact(ImageBuilder.InstallerRaw));
        Assert.True(verify.Stdout.Contains("No problems found"), verify.All);
        var conf = await Tools.RunAsync("sgdisk", "-i", "4", build.Artifact(ImageBuilder.InstallerRaw));
        Assert.Contains("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", conf.Stdout);
        Assert.Contains("Partition name: 'CONFIG'", conf.Stdout);
        var installer = await Tools.RunAsync("sgdisk", "-i", "6", build.Artifact(ImageBuilder.InstallerRaw));
        Assert.Contains("Partition name: 'INSTALLER'", installer.Stdout);
        Assert.Contains("Attribute flags: 0102000000000000", installer.Stdout);
        var inventory = await Tools.RunAsync("sgdisk", "-i", "5", build.Artifact(ImageBuilder.InstallerRaw));
        Assert.Contains("Partition name: 'INVENTORY'", inventory.Stdout);
    }
}

public sealed class Qcow2Tests(ExampleBuild build) : IClassFixture<ExampleBuild>
{
    [Fact]
    public async Task Live_qcow2_passes_qemu_img_check_and_has_the_same_content_as_live_raw()
    {
        var qcow2 = build.Artifact(ImageBuilder.LiveQcow2);
        var check = await Tools.RunAsync("qemu-img", "check", "-f", "qcow2", qcow2);
        Assert.True(check.ExitCode == 0, check.All);
        var compare = await Tools.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "qcow2", build.Artifact(ImageBuilder.LiveRaw), qcow2);
        Assert.True(compare.ExitCode == 0 && compare.Stdout.Contains("Images are identical"), compare.All);
        Assert.True(new FileInfo(qcow2).Length < new FileInfo(build.Artifact(ImageBuilder.LiveRaw)).Length, "qcow2 should not store the zero clusters");
    }
}
