using Org.Lfedge.Eve.Logs;

namespace Outpost.Agent.Logging;

/// <summary>
/// Log entries waiting to be packed into newlogs files. Bounded in memory: when the uplink is down for long,
/// the oldest entries go first (the outbox keeps what was already packed), and the loss is counted.
/// </summary>
public sealed class CapturedLogBuffer(int capacity = 20_000)
{
    private readonly Lock _gate = new();
    private readonly Queue<LogEntry> _entries = new();
    private long _dropped;

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
            if (_entries.Count >= capacity)
            {
                _entries.Dequeue();
                Interlocked.Increment(ref _dropped);
            }

            _entries.Enqueue(entry);
        }
    }

    public IReadOnlyList<LogEntry> DrainAll()
    {
        lock (_gate)
        {
            var all = _entries.ToList();
            _entries.Clear();
            return all;
        }
    }
}
