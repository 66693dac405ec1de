using System.Security.Cryptography;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Image.Disks;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Disks;

/// <summary>A real GPT disk file (EVE's live layout, IMGA holding known bytes) whose CONFIG partition is replaced in place.</summary>
public sealed class ConfigPartitionWriterTests : IDisposable
{
    private static readonly DateTime Timestamp = new(2024, 5, 1, 12, 0, 0, DateTimeKind.Utc);
    private readonly TempDirectory _temp = new();

    private string DiskPath => _temp.Combine("disk.raw");

    private string ConfigDirectory => _temp.Combine("config");

    private async Task<byte[]> WriteDiskAsync(bool withConfig = true)
    {
        var imga = RandomNumberGenerator.GetBytes(512 * 1024);
        await File.WriteAllBytesAsync(_temp.Combine("imga.bin"), imga);
        var sizes = new DiskSizes();
        var parts = LiveLayout.Partitions(sizes, espPath: null!, _temp.Combine("imga.bin"), configPath: null!, slotBytes: PartitionPlan.MiB)
            .Select(p => p.Spec.Number == EvePartitions.ImgaNumber ? p : p with { ContentPath = null })
            .Where(p => withConfig || p.Spec.Number != EvePartitions.ConfigNumber)
            .ToList();
        await RawDiskWriter.WriteAsync(DiskPath, parts, CancellationToken.None);
        return imga;
    }

    private async Task WriteConfigFolderAsync()
    {
        Directory.CreateDirectory(Path.Combine(ConfigDirectory, "DevicePortConfig"));
        await File.WriteAllTextAsync(Path.Combine(ConfigDirectory, "server"), "10.0.2.2:8443\n");
        await File.WriteAllTextAsync(Path.Combine(ConfigDirectory, "root-certificate.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        await File.WriteAllTextAsync(Path.Combine(ConfigDirectory, "soft_serial"), "dev1\n");
        await File.WriteAllTextAsync(Path.Combine(ConfigDirectory, "DevicePortConfig", "override.json"), "{\"Version\":1,\"Ports\":[]}\n");
    }

    private GptPartition Partition(int number)
    {
        using var disk = File.OpenRead(DiskPath);
        return GptDisk.Read(disk).Find(number)!;
    }

    private async Task<byte[]> ReadRangeAsync(long offset, int length)
    {
        await using var disk = File.OpenRead(DiskPath);
        var buffer = new byte[length];
        disk.Position = offset;
        await disk.ReadExactlyAsync(buffer);
        return buffer;
    }

    [Fact]
    public async Task The_config_folder_lands_in_the_config_partition_and_mtools_reads_it_there()
    {
        var imga = await WriteDiskAsync();
        await WriteConfigFolderAsync();

        var written = await ConfigPartitionWriter.WriteAsync(DiskPath, ConfigDirectory, Timestamp, CancellationToken.None);

        Assert.Equal(Partition(EvePartitions.ConfigNumber), written);
        var image = $"{DiskPath}@@{written.ByteOffset}";
        var listing = await Tools.RunAsync("mdir", "-i", image, "-b", "::/");
        Assert.True(listing.ExitCode == 0, listing.All);
        foreach (var name in new[] { "server", "root-certificate.pem", "soft_serial", "DevicePortConfig" })
        {
            Assert.Contains($"::/{name}", listing.Stdout);
        }

        var server = await Tools.RunAsync("mtype", "-i", image, "::/server");
        Assert.Equal("10.0.2.2:8443\n", server.Stdout);
        var label = await Tools.RunAsync("mlabel", "-i", image, "-s", "::");
        Assert.Contains("EVE", label.Stdout);

        // Our own reader and fsck.fat agree on the bare volume.
        var volume = _temp.Combine("config.img");
        await Tools.ExtractAsync(DiskPath, written.ByteOffset, written.ByteLength, volume);
        await using (var stream = File.OpenRead(volume))
        {
            Assert.Equal("{\"Version\":1,\"Ports\":[]}\n", System.Text.Encoding.UTF8.GetString(FatVolumeReader.Open(stream).ReadFile("DevicePortConfig/override.json")));
        }

        var fsck = await Tools.RunAsync("fsck.fat", "-n", volume);
        Assert.True(fsck.ExitCode == 0, fsck.All);

        // Nothing else moved: IMGA's bytes and the partition table are as before.
        var slot = Partition(EvePartitions.ImgaNumber);
        Assert.Equal(imga, await ReadRangeAsync(slot.ByteOffset, imga.Length));
        var verify = await Tools.RunAsync("sgdisk", "-v", DiskPath);
        Assert.True(verify.Stdout.Contains("No problems found"), verify.All);
    }

    [Fact]
    public async Task Writing_the_same_folder_twice_gives_the_same_bytes()
    {
        await WriteDiskAsync();
        await WriteConfigFolderAsync();
        var config = await ConfigPartitionWriter.WriteAsync(DiskPath, ConfigDirectory, Timestamp, CancellationToken.None);
        var first = await ReadRangeAsync(config.ByteOffset, (int)config.ByteLength);
        await ConfigPartitionWriter.WriteAsync(DiskPath, ConfigDirectory, Timestamp, CancellationToken.None);
        Assert.Equal(first, await ReadRangeAsync(config.ByteOffset, (int)config.ByteLength));
    }

    [Fact]
    public async Task A_folder_too_big_for_the_partition_is_refused_and_the_disk_is_left_as_it_was()
    {
        await WriteDiskAsync();
        await WriteConfigFolderAsync();
        await File.WriteAllBytesAsync(Path.Combine(ConfigDirectory, "big.bin"), new byte[6 * 1024 * 1024]);
        var before = SHA256.HashData(await File.ReadAllBytesAsync(DiskPath));

        var error = await Assert.ThrowsAsync<ImageBuildException>(() => ConfigPartitionWriter.WriteAsync(DiskPath, ConfigDirectory, Timestamp, CancellationToken.None));

        Assert.Contains("does not fit the CONFIG partition", error.Message);
        Assert.Equal(before, SHA256.HashData(await File.ReadAllBytesAsync(DiskPath)));
    }

    [Fact]
    public async Task A_disk_without_a_config_partition_is_refused_naming_the_partitions_it_has()
    {
        await WriteDiskAsync(withConfig: false);
        await WriteConfigFolderAsync();
        var error = await Assert.ThrowsAsync<ImageBuildException>(() => ConfigPartitionWriter.WriteAsync(DiskPath, ConfigDirectory, Timestamp, CancellationToken.None));
        Assert.Contains("has no partition named CONFIG (it has 1 'EFI System', 2 'IMGA'", error.Message);
    }

    [Fact]
    public async Task A_file_that_is_not_a_gpt_disk_is_refused_with_what_to_give()
    {
        await File.WriteAllBytesAsync(DiskPath, new byte[1024 * 1024]);
        await WriteConfigFolderAsync();
        var error = await Assert.ThrowsAsync<ImageBuildException>(() => ConfigPartitionWriter.WriteAsync(DiskPath, ConfigDirectory, Timestamp, CancellationToken.None));
        Assert.Contains("is not a raw GPT disk", error.Message);
    }

    public void Dispose() => _temp.Dispose();
}
