using Google.Protobuf;
using Org.Lfedge.Eve.Logs;

namespace Outpost.Agent.Logging;

/// <summary>
/// Log entries waiting to be packed into newlogs files. Every entry is also appended to a journal file in the
/// state directory as it is logged, so a killed agent (SIGKILL, OOM, power cut after the page cache is written)
/// loses no line: the next run reads the journal back. Bounded in memory: when the uplink is down for long the
/// oldest entries go first (the outbox keeps what was already packed), and the loss is counted. A journal write that
/// fails (full or failing disk) never reaches the caller: the entry stays in memory, the journal is set aside, and it
/// is opened again a little later; only lines logged while it was away are at risk from a crash.
/// </summary>
public sealed class CapturedLogBuffer : IDisposable
{
    private static readonly TimeSpan JournalRetry = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly Queue<LogEntry> _entries = new();
    private readonly int _capacity;
    private readonly string? _journalPath;
    private readonly Persistence.StorageHealth? _storage;
    private FileStream? _journal;
    private long _dropped;
    private long _journalFailures;
    private DateTime _journalRetryAt;

    /// <param name="journalDirectory">Where the journal lives; null keeps entries in memory only.</param>
    public CapturedLogBuffer(string? journalDirectory = null, int capacity = 20_000, Persistence.StorageHealth? storage = null)
    {
        _capacity = capacity;
        _storage = storage;
        if (journalDirectory is null)
        {
            return;
        }

        Persistence.AtomicFile.CreatePrivateDirectory(journalDirectory);
        _journalPath = Path.Combine(journalDirectory, "logs.journal");

        // A drain that was not committed (crash between packing and queueing) is recovered first, then the rest.
        foreach (var entry in ReadJournal(DrainingPath).Concat(ReadJournal(_journalPath)))
        {
            Enqueue(entry);
        }

        lock (_gate)
        {
            ReopenJournalLocked(rewrite: true);
        }

        TryDelete(DrainingPath);
    }

    /// <summary>Journal writes that failed so far.</summary>
    public long JournalFailures => Interlocked.Read(ref _journalFailures);

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
            if (_journal is null && _journalPath is not null && DateTime.UtcNow >= _journalRetryAt)
            {
                // Back after a failure: the journal is written anew with everything still held.
                ReopenJournalLocked(rewrite: true);
                return;
            }

            if (_journal is not null)
            {
                try
                {
                    entry.WriteDelimitedTo(_journal);
                    _journal.Flush();
                }
                catch (IOException e)
                {
                    JournalFailedLocked(e);
                }
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
                try
                {
                    _journal.Dispose();
                    _journal = null;
                    File.Move(_journalPath!, DrainingPath, overwrite: true);
                    _journal = OpenJournal(_journalPath!, FileMode.Create);
                }
                catch (IOException e)
                {
                    JournalFailedLocked(e);
                }
            }

            return all;
        }
    }

    /// <summary>The drained entries are now in the outbox: forget their journal copy.</summary>
    public void CommitDrain()
    {
        if (_journalPath is not null)
        {
            TryDelete(DrainingPath);
        }
    }

    /// <summary>Drained entries the outbox could not take (full disk): counted as dropped, their journal copy forgotten.</summary>
    public void DropDrained(int count)
    {
        Interlocked.Add(ref _dropped, count);
        CommitDrain();
    }

    private void ReopenJournalLocked(bool rewrite)
    {
        try
        {
            _journal = OpenJournal(_journalPath!, FileMode.Create);
            if (rewrite)
            {
                foreach (var entry in _entries)
                {
                    entry.WriteDelimitedTo(_journal);
                }

                _journal.Flush();
            }

            _storage?.Succeeded("log journal");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            JournalFailedLocked(e);
        }
    }

    private void JournalFailedLocked(Exception e)
    {
        Interlocked.Increment(ref _journalFailures);
        try
        {
            _journal?.Dispose();
        }
        catch (IOException)
        {
            // Flushing what the disk refused fails again on close; the stream is gone either way.
        }

        _journal = null;
        _journalRetryAt = DateTime.UtcNow + JournalRetry;
        // Never logged from here: the log line would come straight back to this journal.
        _storage?.Failed("log journal", e);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
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
        new(path, new FileStreamOptions
        {
            Mode = mode,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            BufferSize = 4096,
            UnixCreateMode = Persistence.AtomicFile.PrivateFile,
        });

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
            try
            {
                _journal?.Dispose();
            }
            catch (IOException)
            {
            }

            _journal = null;
        }
    }
}
