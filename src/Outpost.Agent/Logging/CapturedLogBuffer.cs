using Google.Protobuf;
using Org.Lfedge.Eve.Logs;

namespace Outpost.Agent.Logging;

/// <summary>
/// Log entries waiting to be packed into newlogs files. Every entry is also appended to a journal file in the
/// state directory as it is logged, so a killed agent (SIGKILL, OOM, power cut after the page cache is written)
/// loses no line: the next run reads the journal back. Bounded in memory: when the uplink is down for long the
/// oldest entries go first (the outbox keeps what was already packed), and the loss is counted.
/// </summary>
public sealed class CapturedLogBuffer : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Queue<LogEntry> _entries = new();
    private readonly int _capacity;
    private readonly string? _journalPath;
    private FileStream? _journal;
    private long _dropped;

    /// <param name="journalDirectory">Where the journal lives; null keeps entries in memory only.</param>
    public CapturedLogBuffer(string? journalDirectory = null, int capacity = 20_000)
    {
        _capacity = capacity;
        if (journalDirectory is null)
        {
            return;
        }

        Directory.CreateDirectory(journalDirectory);
        _journalPath = Path.Combine(journalDirectory, "logs.journal");

        // A drain that was not committed (crash between packing and queueing) is recovered first, then the rest.
        foreach (var entry in ReadJournal(DrainingPath).Concat(ReadJournal(_journalPath)))
        {
            Enqueue(entry);
        }

        _journal = OpenJournal(_journalPath, FileMode.Create);
        foreach (var entry in _entries)
        {
            entry.WriteDelimitedTo(_journal);
        }

        _journal.Flush();
        File.Delete(DrainingPath);
    }

    private string DrainingPath => _journalPath + ".draining";

    public long Dropped => Interlocked.Read(ref _dropped);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    public void Add(LogEntry entry)
    {
        lock (_gate)
        {
            Enqueue(entry);
            if (_journal is not null)
            {
                entry.WriteDelimitedTo(_journal);
                _journal.Flush();
            }
        }
    }

    /// <summary>
    /// Takes every entry. With a journal, the entries stay recoverable until <see cref="CommitDrain"/> says they
    /// are safely in the outbox.
    /// </summary>
    public IReadOnlyList<LogEntry> DrainAll()
    {
        lock (_gate)
        {
            var all = _entries.ToList();
            _entries.Clear();
            if (_journal is not null && all.Count > 0)
            {
                _journal.Dispose();
                File.Move(_journalPath!, DrainingPath, overwrite: true);
                _journal = OpenJournal(_journalPath!, FileMode.Create);
            }

            return all;
        }
    }

    /// <summary>The drained entries are now in the outbox: forget their journal copy.</summary>
    public void CommitDrain()
    {
        if (_journalPath is not null)
        {
            File.Delete(DrainingPath);
        }
    }

    private void Enqueue(LogEntry entry)
    {
        if (_entries.Count >= _capacity)
        {
            _entries.Dequeue();
            Interlocked.Increment(ref _dropped);
        }

        _entries.Enqueue(entry);
    }

    private static FileStream OpenJournal(string path, FileMode mode) =>
        new(path, mode, FileAccess.Write, FileShare.Read, bufferSize: 4096);

    private static List<LogEntry> ReadJournal(string path)
    {
        var entries = new List<LogEntry>();
        if (!File.Exists(path))
        {
            return entries;
        }

        using var stream = File.OpenRead(path);
        while (stream.Position < stream.Length)
        {
            try
            {
                entries.Add(LogEntry.Parser.ParseDelimitedFrom(stream));
            }
            catch (InvalidProtocolBufferException)
            {
                // A torn last record (killed mid-write): everything before it is intact.
                break;
            }
        }

        return entries;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _journal?.Dispose();
            _journal = null;
        }
    }
}
