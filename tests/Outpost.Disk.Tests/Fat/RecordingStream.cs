namespace Outpost.Disk.Tests.Fat;

/// <summary>
/// Passes everything through to an inner stream and records each write (offset and bytes) and each flush, in order,
/// so a test can check what a writer wrote before a barrier and replay any prefix of the writes as a power cut.
/// </summary>
internal sealed class RecordingStream(Stream inner, bool writable = true) : Stream
{
    public abstract record Event;

    public sealed record Written(long Offset, byte[] Data) : Event
    {
        public long End => Offset + Data.Length;

        public bool Overlaps(long start, long length) => Offset < start + length && start < End;
    }

    public sealed record Flushed : Event;

    public List<Event> Events { get; } = [];

    public IReadOnlyList<Written> Writes => Events.OfType<Written>().ToList();

    /// <summary>The writes between flushes: within one group a disk may reorder or drop any of them on a power cut.</summary>
    public IReadOnlyList<IReadOnlyList<Written>> Epochs()
    {
        var epochs = new List<IReadOnlyList<Written>>();
        var current = new List<Written>();
        foreach (var e in Events)
        {
            if (e is Written w)
            {
                current.Add(w);
            }
            else if (current.Count > 0)
            {
                epochs.Add(current);
                current = [];
            }
        }
        if (current.Count > 0)
        {
            epochs.Add(current);
        }
        return epochs;
    }

    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => writable && inner.CanWrite;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }

    public override void Flush()
    {
        Events.Add(new Flushed());
        inner.Flush();
    }

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => inner.Read(buffer);

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void SetLength(long value) => throw new NotSupportedException("A volume's size is fixed.");

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!CanWrite)
        {
            throw new NotSupportedException("This recording stream is read-only.");
        }
        Events.Add(new Written(inner.Position, buffer.ToArray()));
        inner.Write(buffer);
    }
}
