namespace Outpost.Disk;

/// <summary>
/// A read-write view of one partition of a disk stream, positions relative to the partition's start. Writes past the
/// partition's end are refused, so a bug in a filesystem writer cannot spill into the next partition. Flush reaches
/// stable storage through the disk (<see cref="DiskFlush"/>): a filesystem editor's ordering promises rely on it.
/// </summary>
public sealed class PartitionStream(Stream disk, long offset, long length) : Stream
{
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => disk.CanWrite;
    public override long Length => length;
    public override long Position { get => _position; set => _position = value; }

    public override void Flush()
    {
        disk.Flush();
        DiskFlush.ToStableStorage(disk);
    }

    public override void SetLength(long value) => throw new NotSupportedException("A partition's size is fixed by the partition table.");

    public override long Seek(long offset, SeekOrigin origin) => _position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => length + offset,
    };

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var available = (int)Math.Max(0, Math.Min(buffer.Length, length - _position));
        if (available == 0) return 0;
        disk.Position = offset + _position;
        var read = disk.Read(buffer[..available]);
        _position += read;
        return read;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_position < 0 || _position + buffer.Length > length)
            throw new IOException($"A write of {buffer.Length} bytes at {_position} would leave the partition ({length} bytes); nothing was written.");
        disk.Position = offset + _position;
        disk.Write(buffer);
        _position += buffer.Length;
    }
}
