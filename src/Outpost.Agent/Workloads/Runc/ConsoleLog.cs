using System.Globalization;
using System.Runtime.CompilerServices;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>
/// A workload's console log: the container appends to console.log through an inherited O_APPEND fd,
/// so the driver can only rotate by copy-and-truncate. One rotated file (console.log.1) is kept.
/// Offsets are logical (bytes ever written); console.log.base holds the logical offset of console.log's first byte.
/// </summary>
internal sealed class ConsoleLog(string path, long maxBytes)
{
    private const int ChunkBytes = 64 * 1024;

    private string RotatedPath => path + ".1";

    private string BasePath => path + ".base";

    /// <summary>
    /// Moves the current content to console.log.1 when it is over the cap. Bytes the app writes between
    /// the copy and the truncate are lost; a small window, accepted because the app owns the fd.
    /// </summary>
    public void RotateIfNeeded()
    {
        var length = LengthOf(path);
        if (length <= maxBytes)
        {
            return;
        }

        var temporary = RotatedPath + ".tmp";
        using (var source = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete))
        {
            using (var target = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                CopyBytes(source, target, length);
            }

            File.Move(temporary, RotatedPath, overwrite: true);
            WriteBase(ReadBase() + length);
            source.SetLength(0);
        }
    }

    public async IAsyncEnumerable<ConsoleChunk> ReadAsync(long fromOffset, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        RotateIfNeeded();
        var currentStart = ReadBase();
        var currentLength = LengthOf(path);
        var rotatedLength = LengthOf(RotatedPath);
        var oldestAvailable = currentStart - rotatedLength;
        var end = currentStart + currentLength;
        if (fromOffset < oldestAvailable || fromOffset > end)
        {
            // Rotated away, or the log was reset under a stale offset: start at the oldest byte kept.
            fromOffset = oldestAvailable;
        }

        if (fromOffset < currentStart)
        {
            await foreach (var chunk in ReadFileAsync(RotatedPath, fromOffset - oldestAvailable, rotatedLength, oldestAvailable, cancellationToken))
            {
                yield return chunk;
            }

            fromOffset = currentStart;
        }

        await foreach (var chunk in ReadFileAsync(path, fromOffset - currentStart, currentLength, currentStart, cancellationToken))
        {
            yield return chunk;
        }
    }

    private static async IAsyncEnumerable<ConsoleChunk> ReadFileAsync(
        string file, long position, long length, long logicalStart, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (position >= length || !File.Exists(file))
        {
            yield break;
        }

        await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Position = position;
        while (position < length)
        {
            var buffer = new byte[(int)Math.Min(ChunkBytes, length - position)];
            var read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                // Truncated under us by a rotation; the next read picks it up from console.log.1.
                yield break;
            }

            yield return new ConsoleChunk(logicalStart + position, buffer.AsMemory(0, read));
            position += read;
        }
    }

    private static void CopyBytes(Stream source, Stream target, long count)
    {
        var buffer = new byte[ChunkBytes];
        while (count > 0)
        {
            var read = source.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            if (read == 0)
            {
                break;
            }

            target.Write(buffer, 0, read);
            count -= read;
        }
    }

    private long ReadBase() =>
        File.Exists(BasePath) && long.TryParse(File.ReadAllText(BasePath).Trim(), CultureInfo.InvariantCulture, out var value) ? value : 0;

    private void WriteBase(long value)
    {
        var temporary = BasePath + ".tmp";
        File.WriteAllText(temporary, value.ToString(CultureInfo.InvariantCulture));
        File.Move(temporary, BasePath, overwrite: true);
    }

    private static long LengthOf(string file) => File.Exists(file) ? new FileInfo(file).Length : 0;
}
