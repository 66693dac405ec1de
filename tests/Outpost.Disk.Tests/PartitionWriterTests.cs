using System.Security.Cryptography;
using Outpost.Disk.Gpt;

namespace Outpost.Disk.Tests;

public sealed class PartitionWriterTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly GptLayout Layout = new(16 * MiB, EvePartitions.DiskGuid,
    [
        new GptPartition(2, EvePartitions.UsrType, EvePartitions.ImgaUniqueGuid, 2048, 2048 + 4 * 2048 - 1, PartitionState.Active.Encode(0), "IMGA"),
        new GptPartition(3, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid, 10240, 10240 + 4 * 2048 - 1, 0, "IMGB"),
    ]);

    private string CreateDisk()
    {
        var path = _temp.File("disk.img");
        using var disk = File.Create(path);
        GptWriter.Write(disk, Layout);
        // Mark IMGA's area so we can see it is not touched when IMGB is written.
        disk.Position = Layout.Find(2)!.ByteOffset;
        disk.Write(Enumerable.Repeat((byte)0xA5, (int)Layout.Find(2)!.ByteLength).ToArray());
        return path;
    }

    private static byte[] Content(int length)
    {
        var bytes = new byte[length];
        new Random(5).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task ContentLandsInThePartitionRangeOnlyAndIsVerified()
    {
        var path = CreateDisk();
        var content = Content(3 * (int)MiB + 123);
        var reports = new List<long>();
        PartitionWriteResult result;
        await using (var disk = File.Open(path, FileMode.Open))
        {
            result = await PartitionWriter.WriteAsync(disk, Layout.Find(3)!, new MemoryStream(content), new SynchronousProgress(reports.Add), CancellationToken.None);
        }

        Assert.Equal(content.Length, result.BytesWritten);
        Assert.Equal(SHA256.HashData(content), result.Sha256);
        Assert.Equal(content.Length, reports[^1]);
        var image = File.ReadAllBytes(path);
        Assert.True(image.AsSpan((int)Layout.Find(3)!.ByteOffset, content.Length).SequenceEqual(content));
        var imga = Layout.Find(2)!;
        Assert.True(image.AsSpan((int)imga.ByteOffset, (int)imga.ByteLength).IndexOfAnyExcept((byte)0xA5) < 0, "IMGA was modified");
        Assert.Contains("No problems found", ExternalTool.RunOk("sgdisk", "-v", path).All);
    }

    [Fact]
    public async Task ContentBiggerThanThePartitionIsRejectedBeforeWriting()
    {
        var path = CreateDisk();
        var before = SHA256.HashData(File.ReadAllBytes(path));
        await using (var disk = File.Open(path, FileMode.Open))
        {
            var error = await Assert.ThrowsAsync<PartitionTooSmallException>(() =>
                PartitionWriter.WriteAsync(disk, Layout.Find(3)!, new MemoryStream(Content(4 * (int)MiB + 1)), null, CancellationToken.None));
            Assert.Contains("nothing was written", error.Message);
        }
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
    }

    [Fact]
    public async Task ADiskThatReadsBackDifferentBytesFailsVerification()
    {
        using var faulty = new BitFlippingDisk(new byte[16 * MiB], flipAt: Layout.Find(3)!.ByteOffset + 1000);
        await Assert.ThrowsAsync<PartitionVerificationException>(() =>
            PartitionWriter.WriteAsync(faulty, Layout.Find(3)!, new MemoryStream(Content(2000)), null, CancellationToken.None));
    }

    [Fact]
    public async Task CancellationStopsTheWrite()
    {
        using var disk = new MemoryStream(new byte[16 * MiB]);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            PartitionWriter.WriteAsync(disk, Layout.Find(3)!, new MemoryStream(Content(2000)), null, new CancellationToken(canceled: true)));
    }

    private sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    /// <summary>A disk that stores writes correctly but returns one byte inverted on reads, like a failing medium.</summary>
    private sealed class BitFlippingDisk(byte[] storage, long flipAt) : MemoryStream(storage)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            long start = Position;
            int read = base.Read(buffer, offset, count);
            if (flipAt >= start && flipAt < start + read)
            {
                buffer[offset + (int)(flipAt - start)] ^= 0xFF;
            }
            return read;
        }

        public override int Read(Span<byte> buffer)
        {
            var copy = new byte[buffer.Length];
            int read = Read(copy, 0, copy.Length);
            copy.AsSpan(0, read).CopyTo(buffer);
            return read;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }
}
