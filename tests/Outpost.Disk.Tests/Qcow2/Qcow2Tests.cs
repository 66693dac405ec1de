using System.Security.Cryptography;
using Outpost.Disk.Qcow2;

namespace Outpost.Disk.Tests.Qcow2;

public sealed class Qcow2Tests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A sparse raw disk with data at the start, in the middle, past the first L2 table's 512 MiB, and in a partial last cluster.</summary>
    private string CreateRaw(long size, string name = "disk.raw")
    {
        var path = _temp.File(name);
        using var file = File.Create(path);
        file.SetLength(size);
        var random = new Random(11);
        foreach (long offset in new[] { 0L, 3 * MiB + 100, 513 * MiB, size - 700 })
        {
            if (offset + 70_000 > size && offset != size - 700)
            {
                continue;
            }
            var data = new byte[Math.Min(70_000, size - offset)];
            random.NextBytes(data);
            file.Position = offset;
            file.Write(data);
        }
        return path;
    }

    private async Task<string> ConvertAsync(string raw, string name = "disk.qcow2")
    {
        var path = _temp.File(name);
        await using var input = File.OpenRead(raw);
        await using var output = File.Create(path);
        await Qcow2Writer.WriteAsync(input, output);
        return path;
    }

    [Fact]
    public async Task QemuImgFindsNoErrorsAndTheSameContent()
    {
        long size = 520 * MiB + 4608; // not a multiple of the cluster size
        var raw = CreateRaw(size);
        var qcow2 = await ConvertAsync(raw);

        var check = ExternalTool.RunOk("qemu-img", "check", qcow2).All;
        Assert.Contains("No errors were found", check);
        Assert.Contains("Images are identical", ExternalTool.RunOk("qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw, qcow2).All);
        var info = ExternalTool.RunOk("qemu-img", "info", "--output=json", qcow2).StdOut;
        Assert.Contains($"\"virtual-size\": {size}", info);
        Assert.Contains("\"format\": \"qcow2\"", info);
        Assert.Contains("\"compat\": \"1.1\"", info);
        // Only the clusters holding data are stored.
        Assert.True(new FileInfo(qcow2).Length < 2 * MiB, $"qcow2 is {new FileInfo(qcow2).Length} bytes; zero clusters were stored");
    }

    [Fact]
    public async Task ReaderRestoresTheRawImage()
    {
        var raw = CreateRaw(8 * MiB);
        var qcow2 = await ConvertAsync(raw);
        var restored = _temp.File("restored.raw");
        await using (var input = File.OpenRead(qcow2))
        await using (var output = File.Create(restored))
        {
            Assert.Equal(8 * MiB, Qcow2Reader.ReadVirtualSize(input));
            await Qcow2Reader.ConvertToRawAsync(input, output);
        }
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(raw)), SHA256.HashData(File.ReadAllBytes(restored)));
    }

    [Fact]
    public async Task ReaderReadsAnImageConvertedByQemuImg()
    {
        var raw = CreateRaw(8 * MiB);
        var qcow2 = _temp.File("qemu.qcow2");
        ExternalTool.RunOk("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2);
        var restored = _temp.File("restored.raw");
        await using (var input = File.OpenRead(qcow2))
        await using (var output = File.Create(restored))
        {
            await Qcow2Reader.ConvertToRawAsync(input, output);
        }
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(raw)), SHA256.HashData(File.ReadAllBytes(restored)));
    }

    [Fact]
    public async Task SameRawImageGivesIdenticalBytes()
    {
        var raw = CreateRaw(8 * MiB);
        var first = await ConvertAsync(raw, "a.qcow2");
        var second = await ConvertAsync(raw, "b.qcow2");
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(first)), SHA256.HashData(File.ReadAllBytes(second)));
    }

    [Fact]
    public async Task ReaderRejectsAFileThatIsNotQcow2()
    {
        using var notQcow2 = new MemoryStream(new byte[4096]);
        await Assert.ThrowsAsync<Qcow2FormatException>(() => Qcow2Reader.ConvertToRawAsync(notQcow2, Stream.Null));
    }
}
