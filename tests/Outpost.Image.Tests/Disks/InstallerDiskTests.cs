using Outpost.Disk.Gpt;
using Outpost.Disk.Install;
using Outpost.Image.Build;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Disks;

/// <summary>The example's installer.raw installed onto a blank disk file, compared with what live.raw is made of.</summary>
public sealed class InstallerDiskTests(ExampleBuild build) : IClassFixture<ExampleBuild>
{
    private static async Task<byte[]> ReadAsync(string disk, GptPartition partition, long? length = null)
    {
        await using var stream = File.OpenRead(disk);
        var bytes = new byte[length ?? partition.ByteLength];
        stream.Position = partition.ByteOffset;
        await stream.ReadExactlyAsync(bytes);
        return bytes;
    }

    private static bool Same(byte[] expected, byte[] actual) => expected.AsSpan().SequenceEqual(actual);

    private static GptLayout Gpt(string disk)
    {
        using var stream = File.OpenRead(disk);
        return GptDisk.Read(stream);
    }

    [Fact]
    public async Task Installer_raw_carries_the_live_esp_in_a_partition_of_its_own_type_that_firmware_does_not_boot()
    {
        var installer = build.Artifact(ImageBuilder.InstallerRaw);
        var info = await Tools.RunAsync("sgdisk", "-i", InstallerMedia.LiveEspNumber.ToString(), installer);
        Assert.Contains($"Partition name: '{InstallerMedia.LiveEspName}'", info.Stdout);
        Assert.Contains(InstallerMedia.LiveEspType.ToString().ToUpperInvariant(), info.Stdout);
        var esp = await File.ReadAllBytesAsync(build.Artifact(ImageBuilder.EfiImg));
        Assert.True(Same(esp, await ReadAsync(installer, Gpt(installer).FindByName(InstallerMedia.LiveEspName)!)), "LIVE_EFI does not hold live.raw's efi.img byte for byte");
    }

    [Fact]
    public async Task Installing_the_example_gives_live_raws_esp_the_rootfs_in_imga_and_the_installers_config()
    {
        using var temp = new TempDirectory();
        var target = temp.Combine("target.raw");
        using (var blank = File.Create(target)) blank.SetLength(1L << 30);
        var installer = build.Artifact(ImageBuilder.InstallerRaw);

        await LiveInstaller.InstallOntoAsync(installer, target, InstallOptions.Default, null, CancellationToken.None);

        var verify = await Tools.RunAsync("sgdisk", "-v", target);
        Assert.True(verify.Stdout.Contains("No problems found"), verify.All);
        var installed = Gpt(target);
        var live = Gpt(build.Artifact(ImageBuilder.LiveRaw));
        foreach (var number in new[] { EvePartitions.EfiNumber, EvePartitions.ImgaNumber, EvePartitions.ImgbNumber, EvePartitions.ConfigNumber, EvePartitions.PersistNumber })
        {
            var (mine, theirs) = (installed.Find(number)!, live.Find(number)!);
            Assert.Equal((theirs.Name, theirs.TypeGuid, theirs.UniqueGuid, theirs.Attributes), (mine.Name, mine.TypeGuid, mine.UniqueGuid, mine.Attributes));
        }

        var esp = await File.ReadAllBytesAsync(build.Artifact(ImageBuilder.EfiImg));
        Assert.True(Same(esp, await ReadAsync(target, installed.Find(EvePartitions.EfiNumber)!)), "the installed ESP is not live.raw's efi.img");
        var rootfs = await File.ReadAllBytesAsync(build.Artifact(ImageBuilder.RootfsImg));
        Assert.True(Same(rootfs, await ReadAsync(target, installed.Find(EvePartitions.ImgaNumber)!, rootfs.Length)), "IMGA does not start with rootfs.img");
        var config = await File.ReadAllBytesAsync(build.Artifact(ImageBuilder.ConfigImg));
        Assert.True(Same(config, await ReadAsync(target, installed.Find(EvePartitions.ConfigNumber)!)), "CONFIG is not the installer's config.img");
        Assert.Equal(1L << 30, installed.DiskSizeBytes);
        Assert.True(installed.Find(EvePartitions.PersistNumber)!.ByteLength > 900L << 20, "P3 should take the rest of the 1 GiB disk");
    }
}
