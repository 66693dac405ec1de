using System.Collections.Concurrent;
using Outpost.Disk;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// The agent's write layer to its disk in a test (<see cref="Outpost.Agent.BaseOs.BaseOsOptions.OpenDisk"/>): every
/// open gets a <see cref="FaultyDiskStream"/> over a real <see cref="DiskStream"/> of the image file. Shared by all
/// opens (the agent opens the disk once per pass), it can fail or slow down writes into a slot, and it watches the
/// invariant the A/B order promises: whenever the GPT is written and says a slot is updating, that slot already holds
/// its whole rootfs.
/// </summary>
public sealed class DiskFaults(string path)
{
    private readonly ConcurrentQueue<string> _violations = new();
    private readonly ConcurrentDictionary<string, byte[]> _expected = new(StringComparer.Ordinal);
    private int _slotWrites;
    private int _opens;
    private int _writes;
    private int _openStreams;

    /// <summary>The slot whose writes are failed or slowed (the one an update writes into).</summary>
    public string Slot { get; set; } = EvePartitions.ImgbName;

    /// <summary>While set, the Nth write into <see cref="Slot"/> of every opened stream throws an <see cref="IOException"/> (and writes nothing).</summary>
    public int? FailSlotWrite { get; set; }

    /// <summary>Each write into <see cref="Slot"/> waits this long first (a slow disk).</summary>
    public TimeSpan SlotWriteDelay { get; set; }

    /// <summary>Completed when a write into <see cref="Slot"/> is under way.</summary>
    public TaskCompletionSource SlotWriteStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>How many writes the agent made anywhere on the disk.</summary>
    public int Writes => Volatile.Read(ref _writes);

    /// <summary>How many writes reached <see cref="Slot"/> (failed ones not counted).</summary>
    public int SlotWrites => Volatile.Read(ref _slotWrites);

    public int InjectedFailures;

    public IReadOnlyCollection<string> Violations => _violations;

    /// <summary>The rootfs a slot must hold whenever the GPT marks it updating.</summary>
    public void Expect(string label, byte[] rootfs) => _expected[label] = rootfs;

    /// <summary>How often the agent opened the disk: once per BaseOs pass, so a count that moved on by N means N passes were made.</summary>
    public int Opens => Volatile.Read(ref _opens);

    /// <summary>While set, opening the disk fails (as a disk that went away does), so the agent leaves it alone.</summary>
    public bool Unplugged { get; set; }

    public int OpenStreams => Volatile.Read(ref _openStreams);

    public Stream Open()
    {
        if (Unplugged)
        {
            throw new IOException("The test unplugged the disk for a moment.");
        }

        var disk = DiskStream.OpenReadWrite(path);
        Interlocked.Increment(ref _openStreams);
        try
        {
            var stream = new FaultyDiskStream(this, disk);
            Interlocked.Increment(ref _opens);
            return stream;
        }
        catch
        {
            disk.Dispose();
            Interlocked.Decrement(ref _openStreams);
            throw;
        }
    }

    /// <summary>Keeps the agent off the disk (its passes find no disk) and waits until no pass has it open, so the test can read it whole.</summary>
    public async Task UnplugAsync()
    {
        Unplugged = true;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (OpenStreams > 0)
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    /// <summary>Waits until the agent has made <paramref name="passes"/> more BaseOs passes over the disk.</summary>
    public async Task WaitForPassesAsync(int passes)
    {
        var target = Opens + passes + 1;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (Opens < target)
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    private sealed class FaultyDiskStream(DiskFaults faults, DiskStream inner) : Stream
    {
        private readonly GptLayout _layout = GptDisk.Read(inner);
        private int _slotWriteNumber;
        private bool _disposed;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => true;
        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override void SetLength(long value) => throw new NotSupportedException("a disk has the size it has");

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var at = inner.Position;
            if (BeforeWrite(at, buffer.Length) is { } delay && delay > TimeSpan.Zero)
            {
                Thread.Sleep(delay);
            }

            inner.Write(buffer);
            AfterWrite(at, buffer.Length);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var at = inner.Position;
            if (BeforeWrite(at, buffer.Length) is { } delay && delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, cancellationToken);
            }

            await inner.WriteAsync(buffer, cancellationToken);
            AfterWrite(at, buffer.Length);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
            inner.Flush();
            inner.FlushToDisk();
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flush();
            return Task.CompletedTask;
        }

        private TimeSpan? BeforeWrite(long at, int length)
        {
            Interlocked.Increment(ref faults._writes);
            var slot = _layout.FindByName(faults.Slot)!;
            if (at + length <= slot.ByteOffset || at >= slot.ByteOffset + slot.ByteLength)
            {
                return null;
            }

            var number = ++_slotWriteNumber;
            if (faults.FailSlotWrite is { } fail && number == fail)
            {
                Interlocked.Increment(ref faults.InjectedFailures);
                throw new IOException($"Injected write error: write #{number} into {faults.Slot} ({length} bytes at {at}) failed and wrote nothing.");
            }

            Interlocked.Increment(ref faults._slotWrites);
            faults.SlotWriteStarted.TrySetResult();
            return faults.SlotWriteDelay;
        }

        /// <summary>After a write to either GPT copy: a slot the GPT now calls updating must hold its whole rootfs.</summary>
        private void AfterWrite(long at, int length)
        {
            var firstUsable = GptLayout.FirstUsableLba * GptLayout.SectorSize;
            var backup = (_layout.LastUsableLba + 1) * GptLayout.SectorSize;
            if (at >= firstUsable && at + length <= backup)
            {
                return;
            }

            var position = inner.Position;
            try
            {
                foreach (var partition in GptDisk.Read(inner).Partitions.Where(p => p.TypeGuid == EvePartitions.UsrType))
                {
                    if (partition.State != PartitionState.Updating || !faults._expected.TryGetValue(partition.Name, out var rootfs))
                    {
                        continue;
                    }

                    var bytes = new byte[rootfs.Length];
                    inner.Position = partition.ByteOffset;
                    inner.ReadExactly(bytes);
                    if (!bytes.AsSpan().SequenceEqual(rootfs))
                    {
                        faults._violations.Enqueue($"the GPT marked {partition.Name} updating while it did not hold its whole rootfs yet (write of {length} bytes at {at})");
                    }
                }
            }
            catch (GptFormatException)
            {
                // Between the writes of one table update (header and entries): the next write completes it.
            }
            finally
            {
                inner.Position = position;
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                inner.Dispose();
                Interlocked.Decrement(ref faults._openStreams);
            }

            base.Dispose(disposing);
        }
    }
}
