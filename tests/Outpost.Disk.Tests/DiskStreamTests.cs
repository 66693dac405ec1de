using Outpost.Disk.Gpt;

namespace Outpost.Disk.Tests;

/// <summary>A real block device (a loop device over a temp file): FileStream would report its length as 0.</summary>
public sealed class DiskStreamTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task ALoopDeviceReportsItsSizeSoItsBackupGptIsFoundAndAPartitionCanBeWrittenAndVerified()
    {
        var backing = _temp.File("disk.img");
        var layout = new GptLayout(16 * MiB, EvePartitions.DiskGuid,
            [new GptPartition(EvePartitions.ImgbNumber, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid, 2048, 2048 + 4 * 2048 - 1, 0, EvePartitions.ImgbName)]);
        using (var file = File.Create(backing))
        {
            GptWriter.Write(file, layout);
            // Only the backup copy is left, so reading the table needs the device's real end.
            file.Position = 0;
            file.Write(new byte[GptLayout.FirstUsableLba * GptLayout.SectorSize]);
        }

        var content = new byte[3 * MiB];
        new Random(9).NextBytes(content);
        var device = ExternalTool.RunOk("losetup", "--find", "--show", backing).StdOut.Trim();
        try
        {
            using var disk = DiskStream.OpenReadWrite(device);
            Assert.True(disk.IsBlockDevice, $"{device} should be a block device");
            Assert.Equal(16 * MiB, disk.Length);
            var read = GptDisk.Read(disk);
            Assert.Equal(layout.Partitions, read.Partitions);

            var result = await PartitionWriter.WriteAsync(disk, read.Find(EvePartitions.ImgbNumber)!, new MemoryStream(content), null, CancellationToken.None);

            Assert.Equal(content.Length, result.BytesWritten);
        }
        finally
        {
            ExternalTool.RunOk("losetup", "--detach", device);
        }

        Assert.True(File.ReadAllBytes(backing).AsSpan((int)(2048 * GptLayout.SectorSize), content.Length).SequenceEqual(content), "the partition does not hold the content");
    }

    [Fact]
    public void AnImageFileIsNotABlockDeviceAndCanBeResized()
    {
        var path = _temp.File("grow.img");
        File.WriteAllBytes(path, new byte[4096]);
        using var disk = DiskStream.OpenReadWrite(path);

        disk.SetLength(8192);

        Assert.False(disk.IsBlockDevice);
        Assert.Equal(8192, disk.Length);
    }
}
