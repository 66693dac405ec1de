using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Outpost.Disk;

/// <summary>
/// A whole disk, image file or block device, as a seekable stream of positioned reads and writes. FileStream reports
/// a block device's Length as 0 (it asks fstat, which knows only regular files), so GptDisk.Read would not find the
/// backup table and PartitionWriter would think every partition lies past the end; this asks the kernel for the
/// device's size instead. No buffering: every read and write goes to the file at its offset.
/// </summary>
public sealed class DiskStream : Stream
{
    private readonly FileStream _file;
    private readonly bool _isBlockDevice;
    private long _position;

    private DiskStream(FileStream file)
    {
        _file = file;
        _isBlockDevice = RandomAccess.GetLength(file.SafeFileHandle) == 0 && SeekEnd(file.SafeFileHandle) > 0;
    }

    /// <summary>The path the disk was opened from (<c>/dev/vdb</c>, or an image file).</summary>
    public string Path => _file.Name;

    public bool IsBlockDevice => _isBlockDevice;

    public static DiskStream OpenRead(string path) =>
        new(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0));

    /// <summary>Opens for writing; others may still read (a running udev probing the disk), nobody else may write.</summary>
    public static DiskStream OpenReadWrite(string path) =>
        new(new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0));

    public override bool CanRead => _file.CanRead;
    public override bool CanSeek => true;
    public override bool CanWrite => _file.CanWrite;

    public override long Length => _isBlockDevice ? SeekEnd(_file.SafeFileHandle) : RandomAccess.GetLength(_file.SafeFileHandle);

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), "A disk position cannot be negative.");
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => Length + offset,
    };

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = RandomAccess.Read(_file.SafeFileHandle, buffer, _position);
        _position += read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await RandomAccess.ReadAsync(_file.SafeFileHandle, buffer, _position, cancellationToken).ConfigureAwait(false);
        _position += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        RandomAccess.Write(_file.SafeFileHandle, buffer, _position);
        _position += buffer.Length;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await RandomAccess.WriteAsync(_file.SafeFileHandle, buffer, _position, cancellationToken).ConfigureAwait(false);
        _position += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Nothing is buffered here; <see cref="FlushToDisk"/> is what reaches stable storage.</summary>
    public override void Flush()
    {
    }

    /// <summary>fsync: what was written survives a power cut once this returns.</summary>
    public void FlushToDisk() => _file.Flush(flushToDisk: true);

    /// <summary>
    /// Drops the kernel's cached pages of a range (after <see cref="FlushToDisk"/>), so that reading it back reads the
    /// medium rather than the memory the write left behind. Best effort: without it the read-back still compares.
    /// </summary>
    public void EvictCache(long offset, long length) => _ = PosixFadvise(_file.SafeFileHandle, offset, length, FadviseDontNeed);

    public override void SetLength(long value)
    {
        if (_isBlockDevice)
        {
            throw new NotSupportedException($"{Path} is a block device; its size is the hardware's. Lay the disk out for {Length} bytes instead.");
        }

        _file.SetLength(value);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
        }

        base.Dispose(disposing);
    }

    private const int SeekEndWhence = 2;
    private const int FadviseDontNeed = 4;

    /// <summary>lseek(fd, 0, SEEK_END): a block device's size in bytes. RandomAccess reads and writes at explicit offsets, so the moved file offset does not matter.</summary>
    private static long SeekEnd(SafeFileHandle handle) => Lseek(handle, 0, SeekEndWhence) is var end && end >= 0
        ? end
        : throw new IOException($"Cannot find the size of the disk: lseek failed ({Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}).");

    // DllImport with a SafeHandle and integers: marshalled without reflection, so it compiles Native AOT.
    [DllImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static extern long Lseek(SafeFileHandle fd, long offset, int whence);

    [DllImport("libc", EntryPoint = "posix_fadvise")]
    private static extern int PosixFadvise(SafeFileHandle fd, long offset, long length, int advice);
}
