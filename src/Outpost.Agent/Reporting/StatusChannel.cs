using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Outbox;
using Outpost.Agent.Timing;

namespace Outpost.Agent.Reporting;

/// <summary>
/// The way status reaches the controller: one info message per object key in the outbox's status lane, queued when
/// it differs from what the controller last <em>accepted</em> — not from what was last queued. If the item is dropped
/// (refused with a 4xx, over quota) or superseded, the object is simply not delivered yet, and the next
/// <see cref="Offer"/> queues it again (after a refusal with a growing delay, so an object the controller keeps
/// refusing costs one request now and then, never a loop). Messages are compared without their timestamp.
/// </summary>
public sealed class StatusChannel
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly PersistentOutbox _outbox;
    private readonly TimeProvider _time;
    private readonly TimeSpan _firstRetry;
    private readonly TimeSpan _maxRetry;

    public StatusChannel(PersistentOutbox outbox, AgentOptions options)
    {
        _outbox = outbox;
        _time = options.TimeProvider;
        _firstRetry = options.Timings.StatusRefusedRetryFirst;
        _maxRetry = options.Timings.StatusRefusedRetryMax;
        outbox.Delivered += OnDelivered;
        outbox.Dropped += OnDropped;
    }

    /// <summary>
    /// Raised when the controller accepted the status for a key (the unstamped bytes it accepted), under the channel's
    /// lock: listeners must be quick and must not call back into the channel.
    /// </summary>
    public event Action<string, byte[]>? Accepted;

    /// <summary>
    /// Queues <paramref name="unstamped"/> under <paramref name="key"/> unless the controller already has exactly that,
    /// or it is already queued. <paramref name="force"/> queues it even so (a periodic refresh).
    /// Returns true when it was queued.
    /// </summary>
    public bool Offer(string key, ZInfoMsg unstamped, bool force = false)
    {
        var bytes = unstamped.ToByteArray();
        lock (_gate)
        {
            var entry = _entries.TryGetValue(key, out var existing) ? existing : _entries[key] = new Entry();
            var same = entry.Current is not null && bytes.AsSpan().SequenceEqual(entry.Current);
            if (same && !force)
            {
                if (entry.Queued is not null || (entry.Accepted is not null && bytes.AsSpan().SequenceEqual(entry.Accepted)))
                {
                    return false;
                }

                if (_time.GetUtcNow() < entry.NotBefore)
                {
                    return false;
                }
            }

            var stamped = unstamped.Clone();
            stamped.AtTimeStamp = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
            var item = _outbox.Enqueue(OutboxKind.Info, key, stamped.ToByteArray());
            entry.Current = bytes;
            entry.Queued = item?.Sequence;
            return item is not null;
        }
    }

    /// <summary>Marks <paramref name="key"/> as accepted with these bytes (what an earlier run delivered).</summary>
    public void Remember(string key, byte[] acceptedUnstamped)
    {
        lock (_gate)
        {
            var entry = _entries.TryGetValue(key, out var existing) ? existing : _entries[key] = new Entry();
            entry.Current = acceptedUnstamped;
            entry.Accepted = acceptedUnstamped;
        }
    }

    /// <summary>Forgets what the controller has, so that every key is sent again (controller_epoch changed).</summary>
    public void ResendAll()
    {
        lock (_gate)
        {
            foreach (var entry in _entries.Values)
            {
                entry.Accepted = null;
                entry.NotBefore = DateTimeOffset.MinValue;
            }
        }
    }

    /// <summary>Stops tracking <paramref name="key"/> (a deleted object whose deletion was delivered).</summary>
    public void Forget(string key)
    {
        lock (_gate)
        {
            _entries.Remove(key);
        }
    }

    /// <summary>True when the controller has the status last offered for <paramref name="key"/> and nothing newer waits.</summary>
    public bool IsUpToDate(string key)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(key, out var entry) && entry.Queued is null && entry.Accepted is not null && entry.Current is not null
                && entry.Accepted.AsSpan().SequenceEqual(entry.Current);
        }
    }

    /// <summary>The status the controller last accepted for <paramref name="key"/>, if any (unstamped).</summary>
    public ZInfoMsg? LastAccepted(string key)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(key, out var entry) && entry.Accepted is not null ? ZInfoMsg.Parser.ParseFrom(entry.Accepted) : null;
        }
    }

    /// <summary>True while an item for <paramref name="key"/> waits in the outbox.</summary>
    public bool IsQueued(string key)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(key, out var entry) && entry.Queued is not null;
        }
    }

    /// <summary>True when the controller accepted exactly <paramref name="unstamped"/> as the status of <paramref name="key"/>.</summary>
    public bool IsAcceptedAs(string key, ZInfoMsg unstamped)
    {
        var bytes = unstamped.ToByteArray();
        lock (_gate)
        {
            return _entries.TryGetValue(key, out var entry) && entry.Accepted is not null && entry.Accepted.AsSpan().SequenceEqual(bytes);
        }
    }

    public IReadOnlyCollection<string> Keys
    {
        get
        {
            lock (_gate)
            {
                return _entries.Keys.ToList();
            }
        }
    }

    private void OnDelivered(OutboxItem item)
    {
        if (item.Kind != OutboxKind.Info || item.Key is null)
        {
            return;
        }

        lock (_gate)
        {
            if (_entries.TryGetValue(item.Key, out var entry) && entry.Queued == item.Sequence && entry.Current is { } accepted)
            {
                // Listeners run before anyone can see the key up to date: what they record (the device info reporter
                // saves it for the next run) is then never behind what IsUpToDate says, even if the agent stops now.
                Accepted?.Invoke(item.Key, accepted);
                entry.Queued = null;
                entry.Accepted = accepted;
                entry.RetryDelay = TimeSpan.Zero;
            }
        }
    }

    private void OnDropped(OutboxItem item)
    {
        if (item.Kind != OutboxKind.Info || item.Key is null)
        {
            return;
        }

        lock (_gate)
        {
            if (_entries.TryGetValue(item.Key, out var entry) && entry.Queued == item.Sequence)
            {
                entry.Queued = null;
                entry.RetryDelay = ExponentialBackoff.After(entry.RetryDelay == TimeSpan.Zero ? null : entry.RetryDelay, _firstRetry, _maxRetry);
                entry.NotBefore = _time.GetUtcNow() + entry.RetryDelay;
            }
        }
    }

    private sealed class Entry
    {
        /// <summary>The unstamped message last offered.</summary>
        public byte[]? Current { get; set; }

        /// <summary>The unstamped message the controller last accepted.</summary>
        public byte[]? Accepted { get; set; }

        /// <summary>The outbox sequence of the queued item for <see cref="Current"/>, if one is queued.</summary>
        public long? Queued { get; set; }

        public DateTimeOffset NotBefore { get; set; } = DateTimeOffset.MinValue;

        public TimeSpan RetryDelay { get; set; }
    }
}
