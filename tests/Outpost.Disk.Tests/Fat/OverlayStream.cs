namespace Outpost.Disk.Tests.Fat;

/// <summary>
/// A writable, fixed-size view of an image that is never modified: changes live in 4 KiB pages copied on first write,
/// so a test can make hundreds of cheap variants (power-cut states, damaged copies) of a 34 MiB volume.
/// </summary>
internal sealed class OverlayStream(byte[] image) : Stream
{
    private const int PageSize = 4096;
    private readonly Dictionary<long, byte[]> _pages = [];
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => true;
    public override long Length => image.Length;
    public override long Position { get => _position; set => _position = value; }

    /// <summary>Applies recorded writes, as if they had reached the disk before a power cut.</summary>
    public OverlayStream With(IEnumerable<RecordingStream.Written> writes)
    {
        foreach (var write in writes)
        {
            Position = write.Offset;
            Write(write.Data);
        }
        return this;
    }

    /// <summary>XORs one byte with <paramref name="mask"/>.</summary>
    public void Flip(long offset, byte mask)
    {
        Position = offset;
        int value = ReadByte();
        Position = offset;
        WriteByte((byte)(value ^ mask));
    }

    public byte[] ToArray()
    {
        var copy = (byte[])image.Clone();
        foreach (var (page, bytes) in _pages)
        {
            bytes.CopyTo(copy, page * PageSize);
        }
        return copy;
    }

    public override void Flush() { }

    public override long Seek(long offset, SeekOrigin origin) => _position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => image.Length + offset,
    };

    public override void SetLength(long value) => throw new NotSupportedException("A volume's size is fixed.");

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int count = (int)Math.Clamp(image.Length - _position, 0, buffer.Length);
        for (int done = 0; done < count;)
        {
            long page = (_position + done) / PageSize;
            int inPage = (int)((_position + done) % PageSize);
            int chunk = Math.Min(count - done, PageSize - inPage);
            var source = _pages.TryGetValue(page, out var bytes) ? bytes.AsSpan(inPage, chunk) : image.AsSpan((int)(page * PageSize + inPage), chunk);
            source.CopyTo(buffer[done..]);
            done += chunk;
        }
        _position += count;
        return count;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_position < 0 || _position + buffer.Length > image.Length)
        {
            throw new NotSupportedException($"A write of {buffer.Length} bytes at {_position} would leave the {image.Length}-byte image.");
        }
        for (int done = 0; done < buffer.Length;)
        {
            long page = (_position + done) / PageSize;
            int inPage = (int)((_position + done) % PageSize);
            int chunk = Math.Min(buffer.Length - done, PageSize - inPage);
            if (!_pages.TryGetValue(page, out var bytes))
            {
                bytes = image.AsSpan((int)(page * PageSize), (int)Math.Min(PageSize, image.Length - page * PageSize)).ToArray();
                _pages[page] = bytes;
            }
            buffer.Slice(done, chunk).CopyTo(bytes.AsSpan(inPage));
            done += chunk;
        }
        _position += buffer.Length;
    }
}
