using System.Collections.Immutable;

namespace Outpost.Agent.Bus;

/// <summary>
/// One typed topic of the state bus: the last record per key, replaced as a whole (records are immutable). Publishing
/// a record equal to the one held changes nothing and wakes nobody; any real change wakes every watcher. Readers take
/// <see cref="Current"/>, an immutable snapshot, and converge on it: watchers are told that something changed, not what,
/// which is all a level-triggered subsystem needs and cannot be lost or reordered.
/// </summary>
public sealed class Topic<T> : ITopic
    where T : class, IKeyed
{
    private readonly Lock _gate = new();
    private readonly List<Watch> _watchers = [];
    private ImmutableDictionary<string, T> _current = ImmutableDictionary.Create<string, T>(StringComparer.Ordinal);
    private long _version;

    public string Name => typeof(T).Name;

    /// <summary>
    /// Raised after every change, outside the topic's lock, with the record now held (or only its key, for a removal).
    /// For observers that must see each step (traces, tests); subsystems use a <see cref="Watch"/> instead.
    /// </summary>
    public event Action<string, T?>? Changed;

    /// <summary>Every record now held, by key.</summary>
    public IReadOnlyDictionary<string, T> Current => Volatile.Read(ref _current);

    /// <summary>Bumped by every change; lets a reader tell whether anything moved since it last looked.</summary>
    public long Version => Interlocked.Read(ref _version);

    public T? Get(string key) => Current.GetValueOrDefault(key);

    /// <summary>Stores <paramref name="record"/> under its key. Returns true when that changed what the topic holds.</summary>
    public bool Publish(T record)
    {
        lock (_gate)
        {
            if (_current.TryGetValue(record.Key, out var held) && held.Equals(record))
            {
                return false;
            }

            Volatile.Write(ref _current, _current.SetItem(record.Key, record));
            ChangedLocked();
        }

        Changed?.Invoke(record.Key, record);
        return true;
    }

    /// <summary>Removes the record under <paramref name="key"/>. Returns true when there was one.</summary>
    public bool Remove(string key)
    {
        lock (_gate)
        {
            if (!_current.ContainsKey(key))
            {
                return false;
            }

            Volatile.Write(ref _current, _current.Remove(key));
            ChangedLocked();
        }

        Changed?.Invoke(key, null);
        return true;
    }

    /// <summary>Makes <paramref name="records"/> the whole content of the topic (a new config replaces the last one).</summary>
    public bool ReplaceAll(IEnumerable<T> records)
    {
        var next = ImmutableDictionary.CreateBuilder<string, T>(StringComparer.Ordinal);
        foreach (var record in records)
        {
            next[record.Key] = record;
        }

        ImmutableDictionary<string, T> before;
        ImmutableDictionary<string, T> after;
        lock (_gate)
        {
            before = _current;
            if (next.Count == before.Count && next.All(pair => before.TryGetValue(pair.Key, out var held) && held.Equals(pair.Value)))
            {
                return false;
            }

            after = next.ToImmutable();
            Volatile.Write(ref _current, after);
            ChangedLocked();
        }

        if (Changed is { } changed)
        {
            foreach (var (key, record) in after.Where(pair => !before.TryGetValue(pair.Key, out var held) || !held.Equals(pair.Value)))
            {
                changed(key, record);
            }

            foreach (var key in before.Keys.Where(k => !after.ContainsKey(k)))
            {
                changed(key, null);
            }
        }

        return true;
    }

    void ITopic.Add(Watch watch)
    {
        lock (_gate)
        {
            _watchers.Add(watch);
        }
    }

    void ITopic.Remove(Watch watch)
    {
        lock (_gate)
        {
            _watchers.Remove(watch);
        }
    }

    private void ChangedLocked()
    {
        Interlocked.Increment(ref _version);
        foreach (var watcher in _watchers)
        {
            watcher.Signal();
        }
    }
}

/// <summary>What a <see cref="Watch"/> needs of a topic, whatever its record type.</summary>
public interface ITopic
{
    string Name { get; }

    internal void Add(Watch watch);

    internal void Remove(Watch watch);
}
