namespace Outpost.PowerCut;

/// <summary>
/// One operation the code under test issued on its disk: a write of <see cref="Data"/> at <see cref="Offset"/>, or a
/// flush (a barrier: everything written before it is on stable storage once it returns) when Data is null.
/// </summary>
/// <param name="Phase">What the code was doing when it issued the operation (set by the caller through <see cref="RecordingStream.Phase"/>).</param>
public sealed record DiskOp(long Offset, byte[]? Data, string Phase)
{
    public bool IsBarrier => Data is null;

    public override string ToString() => IsBarrier ? $"flush ({Phase})" : $"write {Data!.Length} B at {Offset} ({Phase})";
}

/// <summary>
/// A decorator for the write layer of the disk code (the <see cref="Stream"/> given to <c>AbSlots.Open</c>): it
/// records every write (offset and bytes) and every flush as a barrier, in order, and can inject a failure — an
/// <see cref="IOException"/> on the Nth write, before any of its bytes reach the disk — to test error paths.
/// Reads, seeks and lengths go straight to the inner stream. A flush also reaches stable storage when the inner stream
/// is an <see cref="Outpost.Disk.DiskStream"/> or a <see cref="FileStream"/> (the code's own
/// <c>DiskFlush.ToStableStorage</c> only knows those types, and calls <see cref="Flush"/> on anything else).
/// </summary>
public sealed class RecordingStream(Stream inner, bool keepData = true) : Stream
{
    private readonly List<DiskOp> _ops = [];

    /// <summary>Every write and flush so far, in issue order (writes carry no data when created with keepData: false).</summary>
    public IReadOnlyList<DiskOp> Ops => _ops;

    public int Writes { get; private set; }

    public int Flushes { get; private set; }

    public long BytesWritten { get; private set; }

    /// <summary>The label stored with each following operation.</summary>
    public string Phase { get; set; } = "";

    /// <summary>1-based: the write with this number (counted from the stream's creation) throws instead of writing. Null: never.</summary>
    public int? FailOnWrite { get; set; }

    /// <summary>When true, every write after the failing one fails too (a disk that went away), not just the Nth.</summary>
    public bool FailPermanently { get; set; }

    /// <summary>Stops keeping operations (counts go on), e.g. once a scenario's interesting part is over.</summary>
    public bool Recording { get; set; } = true;

    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void SetLength(long value) => inner.SetLength(value);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => inner.Read(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        BeforeWrite(buffer);
        inner.Write(buffer);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        BeforeWrite(buffer.Span);
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush()
    {
        inner.Flush();
        switch (inner)
        {
            case Outpost.Disk.DiskStream disk:
                disk.FlushToDisk();
                break;
            case FileStream file:
                file.Flush(flushToDisk: true);
                break;
        }
        Flushes++;
        if (Recording) _ops.Add(new DiskOp(0, null, Phase));
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        Flush();
        return Task.CompletedTask;
    }

    private void BeforeWrite(ReadOnlySpan<byte> buffer)
    {
        var number = Writes + 1;
        if (FailOnWrite is { } n && (number == n || (FailPermanently && number > n)))
        {
            Writes = number;
            throw new IOException($"Injected write error: write #{number} ({buffer.Length} bytes at {inner.Position}) failed and wrote nothing.");
        }
        Writes = number;
        BytesWritten += buffer.Length;
        if (Recording) _ops.Add(new DiskOp(inner.Position, keepData ? buffer.ToArray() : [], Phase));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
