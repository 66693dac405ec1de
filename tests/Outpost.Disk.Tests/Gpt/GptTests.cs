using System.Security.Cryptography;
using Outpost.Disk.Gpt;

namespace Outpost.Disk.Tests.Gpt;

public sealed class GptTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static GptLayout EveLayout(long diskSize = 64 * MiB) => new(diskSize, EvePartitions.DiskGuid,
    [
        new GptPartition(EvePartitions.EfiNumber, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid,
            2048, 2048 + 8 * 2048 - 1, EvePartitions.LegacyBiosBootableAttribute, EvePartitions.EfiName),
        new GptPartition(EvePartitions.ImgaNumber, EvePartitions.UsrType, EvePartitions.ImgaUniqueGuid,
            18432, 18432 + 16 * 2048 - 1, PartitionState.Active.Encode(0), EvePartitions.ImgaName),
        new GptPartition(EvePartitions.ImgbNumber, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid,
            51200, 51200 + 16 * 2048 - 1, 0, EvePartitions.ImgbName),
        new GptPartition(EvePartitions.ConfigNumber, EvePartitions.ConfigType, EvePartitions.ConfigUniqueGuid,
            83968, 83968 + 5 * 2048 - 1, 0, EvePartitions.ConfigName),
        new GptPartition(EvePartitions.PersistNumber, EvePartitions.PersistType, EvePartitions.PersistUniqueGuid,
            94208, 94208 + 2048 - 1, 0, EvePartitions.PersistName),
    ]);

    private string WriteImage(GptLayout layout, string name = "disk.img")
    {
        var path = _temp.File(name);
        using var file = File.Create(path);
        GptWriter.Write(file, layout);
        return path;
    }

    [Fact]
    public void Crc32MatchesTheStandardCheckValue()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(Crc32.Compute("123456789"u8), Crc32.Append(Crc32.Compute("1234"u8), "56789"u8));
    }

    [Fact]
    public void WrittenEveDiskPassesSgdiskVerify()
    {
        var image = WriteImage(EveLayout());
        var result = ExternalTool.RunOk("sgdisk", "-v", image);
        Assert.Contains("No problems found", result.All);
    }

    [Fact]
    public void SgdiskSeesEveNamesTypesGuidsAndAttributes()
    {
        var image = WriteImage(EveLayout());
        var table = ExternalTool.RunOk("sgdisk", "-p", image).StdOut;
        Assert.Contains("AD6871EE-31F9-4CF3-9E09-6F7A25C30050", table);
        foreach (var name in new[] { "EFI System", "IMGA", "IMGB", "CONFIG", "P3" })
        {
            Assert.Contains(name, table);
        }

        var imga = ExternalTool.RunOk("sgdisk", "-i", "2", image).StdOut;
        Assert.Contains("5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", imga);
        Assert.Contains("AD6871EE-31F9-4CF3-9E09-6F7A25C30052", imga);
        Assert.Contains("Attribute flags: 0102000000000000", imga);
        Assert.Contains("Partition name: 'IMGA'", imga);
        Assert.Contains("First sector: 18432", imga);

        var efi = ExternalTool.RunOk("sgdisk", "-i", "1", image).StdOut;
        Assert.Contains("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", efi);
        Assert.Contains("Attribute flags: 0000000000000004", efi);

        var p3 = ExternalTool.RunOk("sgdisk", "-i", "9", image).StdOut;
        Assert.Contains("5F24425A-2DFA-11E8-A270-7B663FACCC2C", p3);
        Assert.Contains("AD6871EE-31F9-4CF3-9E09-6F7A25C30059", p3);
    }

    [Fact]
    public void ReaderReadsADiskPartitionedBySgdisk()
    {
        var image = _temp.File("sgdisk.img");
        using (var file = File.Create(image))
        {
            file.SetLength(32 * MiB);
        }
        ExternalTool.RunOk("sgdisk",
            "-U", "AD6871EE-31F9-4CF3-9E09-6F7A25C30050",
            "-n", "1:2048:+4M", "-t", "1:EF00", "-c", "1:EFI System",
            "-n", "3:0:+8M", "-t", "3:5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "-c", "3:IMGB",
            "-u", "3:AD6871EE-31F9-4CF3-9E09-6F7A25C30053",
            "-A", "3:set:49", "-A", "3:set:56", image);

        using var disk = File.OpenRead(image);
        var layout = GptDisk.Read(disk);

        Assert.Equal(32 * MiB, layout.DiskSizeBytes);
        Assert.Equal(EvePartitions.DiskGuid, layout.DiskGuid);
        Assert.Equal([1, 3], layout.Partitions.Select(p => p.Number));
        var efi = layout.Find(1)!;
        Assert.Equal(("EFI System", EvePartitions.EfiSystemType, 2048L, 2048L + 8192 - 1), (efi.Name, efi.TypeGuid, efi.FirstLba, efi.LastLba));
        var imgb = layout.FindByName("IMGB")!;
        Assert.Equal(EvePartitions.UsrType, imgb.TypeGuid);
        Assert.Equal(EvePartitions.ImgbUniqueGuid, imgb.UniqueGuid);
        Assert.Equal(PartitionState.Active, imgb.State);
        Assert.Equal(8 * MiB, imgb.ByteLength);
    }

    [Fact]
    public void ReadingBackOurOwnDiskReturnsTheSameLayout()
    {
        var layout = EveLayout();
        using var disk = new MemoryStream();
        GptWriter.Write(disk, layout);
        var read = GptDisk.Read(disk);
        Assert.Equal(layout.DiskSizeBytes, read.DiskSizeBytes);
        Assert.Equal(layout.Partitions.OrderBy(p => p.Number), read.Partitions);
    }

    [Fact]
    public void WritingTwiceGivesIdenticalBytes()
    {
        var first = SHA256.HashData(File.ReadAllBytes(WriteImage(EveLayout(), "a.img")));
        var second = SHA256.HashData(File.ReadAllBytes(WriteImage(EveLayout(), "b.img")));
        Assert.Equal(first, second);
    }

    [Fact]
    public void UpdateAttributesChangesBothCopiesAndKeepsTheDiskValid()
    {
        var image = WriteImage(EveLayout());
        using (var disk = File.Open(image, FileMode.Open))
        {
            GptDisk.UpdateAttributes(disk, EvePartitions.ImgbNumber, PartitionState.Updating.Encode(0));
        }
        Assert.Contains("No problems found", ExternalTool.RunOk("sgdisk", "-v", image).All);
        Assert.Contains("Attribute flags: 0013000000000000", ExternalTool.RunOk("sgdisk", "-i", "3", image).StdOut);

        // Destroy the primary header: the backup alone must carry the new state.
        using (var disk = File.Open(image, FileMode.Open))
        {
            disk.Position = 512;
            disk.Write(new byte[512]);
            disk.Flush();
            disk.Position = 0;
            Assert.Equal(PartitionState.Updating, GptDisk.Read(disk).Find(3)!.State);
        }
    }

    [Fact]
    public void UpdateAttributesRepairsFromTheBackupWhenThePrimaryIsDamaged()
    {
        var image = WriteImage(EveLayout());
        using var disk = File.Open(image, FileMode.Open);
        disk.Position = 2 * 512 + 10; // corrupt the primary entry array
        disk.WriteByte(0xFF);
        GptDisk.UpdateAttributes(disk, 2, PartitionState.InProgress.Encode(0));
        disk.Close();
        Assert.Contains("No problems found", ExternalTool.RunOk("sgdisk", "-v", image).All);
        Assert.Contains("Attribute flags: 0003000000000000", ExternalTool.RunOk("sgdisk", "-i", "2", image).StdOut);
    }

    [Fact]
    public void RelocateBackupToEndFixesAGrownDisk()
    {
        var small = EveLayout(32 * MiB);
        var image = WriteImage(small with { Partitions = small.Partitions.Where(p => p.Number <= 2).ToList() });
        using (var disk = File.Open(image, FileMode.Open))
        {
            disk.SetLength(48 * MiB);
            var grown = GptDisk.RelocateBackupToEnd(disk);
            Assert.Equal(48 * MiB, grown.DiskSizeBytes);
        }
        var verify = ExternalTool.RunOk("sgdisk", "-v", image).All;
        Assert.Contains("No problems found", verify);
        using var reread = File.OpenRead(image);
        Assert.Equal(48 * MiB, GptDisk.Read(reread).DiskSizeBytes);
    }

    [Fact]
    public void WriterRejectsOverlappingPartitions()
    {
        var layout = EveLayout();
        var overlapping = layout with
        {
            Partitions = [.. layout.Partitions, new GptPartition(5, EvePartitions.ConfigType, Guid.Empty, 2100, 2200, 0, "X")],
        };
        var error = Assert.Throws<GptFormatException>(() => GptWriter.Write(new MemoryStream(), overlapping));
        Assert.Contains("overlap", error.Message);
    }

    [Fact]
    public void ReadingAnUnpartitionedDiskThrowsATypedError()
    {
        using var blank = new MemoryStream(new byte[1024 * 1024]);
        var error = Assert.Throws<GptFormatException>(() => GptDisk.Read(blank));
        Assert.Contains("No valid GPT", error.Message);
    }
}
