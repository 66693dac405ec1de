using System.Security.Cryptography;
using Outpost.Disk.Gpt;

namespace Outpost.Disk;

/// <summary>What <see cref="PartitionWriter.WriteAsync"/> wrote and verified.</summary>
/// <param name="BytesWritten">Length of the content (the rest of the partition is left as it was).</param>
/// <param name="Sha256">SHA-256 of the content, equal to the SHA-256 read back from the disk.</param>
public sealed record PartitionWriteResult(long BytesWritten, byte[] Sha256);

/// <summary>
/// Writes an image (for example a squashfs rootfs into the inactive A/B slot) into one partition
/// of a disk, flushes it to stable storage and verifies it by reading it back.
/// </summary>
public static class PartitionWriter
{
    private const int BufferSize = 1 << 20;

    /// <summary>
    /// Copies <paramref name="content"/> (from its current position to its end) to the start of
    /// <paramref name="partition"/>'s byte range on <paramref name="disk"/>, fsyncs, then re-reads
    /// that range and compares SHA-256 digests. Progress reports the bytes written so far.
    /// </summary>
    /// <exception cref="PartitionTooSmallException">The content does not fit; checked before anything is written.</exception>
    /// <exception cref="PartitionVerificationException">The bytes read back differ from the content.</exception>
    public static async Task<PartitionWriteResult> WriteAsync(
        Stream disk, GptPartition partition, Stream content, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (!content.CanSeek)
        {
            throw new ArgumentException("The content stream must be seekable so its size can be checked before writing; save it to a file first.", nameof(content));
        }
        long length = content.Length - content.Position;
        if (length > partition.ByteLength)
        {
            throw new PartitionTooSmallException(
                $"The content is {length} bytes but partition {partition.Number} ('{partition.Name}') holds only {partition.ByteLength}; nothing was written. Use a larger partition or a smaller image.");
        }
        if (partition.ByteOffset + partition.ByteLength > disk.Length)
        {
            throw new PartitionTooSmallException(
                $"Partition {partition.Number} ends at byte {partition.ByteOffset + partition.ByteLength}, past the end of the disk ({disk.Length} bytes); nothing was written. Check that the partition table belongs to this disk.");
        }

        var buffer = new byte[BufferSize];
        using var written = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        disk.Position = partition.ByteOffset;
        long total = 0;
        int read;
        while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
        {
            written.AppendData(buffer, 0, read);
            await disk.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            total += read;
            progress?.Report(total);
        }
        await disk.FlushAsync(cancellationToken);
        DiskFlush.ToStableStorage(disk);
        // Without this the read-back below would compare the page cache with itself on a disk opened as a DiskStream.
        (disk as DiskStream)?.EvictCache(partition.ByteOffset, total);
        byte[] expected = written.GetHashAndReset();

        using var readBack = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        disk.Position = partition.ByteOffset;
        for (long remaining = total; remaining > 0;)
        {
            int chunk = (int)Math.Min(buffer.Length, remaining);
            await disk.ReadExactlyAsync(buffer.AsMemory(0, chunk), cancellationToken);
            readBack.AppendData(buffer, 0, chunk);
            remaining -= chunk;
        }
        byte[] actual = readBack.GetHashAndReset();
        if (!CryptographicOperations.FixedTimeEquals(expected, actual))
        {
            throw new PartitionVerificationException(
                $"Partition {partition.Number} ('{partition.Name}') reads back differently from what was written (SHA-256 {Convert.ToHexStringLower(actual)} instead of {Convert.ToHexStringLower(expected)}). Do not boot it; rewrite it, and check the disk if it happens again.");
        }
        return new PartitionWriteResult(total, expected);
    }
}
