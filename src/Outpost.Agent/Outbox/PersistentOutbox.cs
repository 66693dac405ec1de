using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Persistence;

namespace Outpost.Agent.Outbox;

/// <summary>
/// A durable queue of reliable messages in STATEDIR/outbox, in two lanes: status (info messages) before logs. Each
/// item is one file named <c>{sequence:D16}.{kind}[.{key}]</c>, written atomically before anyone tries to send it, so
/// a crash or reboot loses nothing that was accepted. Each lane has a byte quota; past it that lane's oldest items are
/// dropped and counted. When the disk is full, logs are dropped to make room (oldest first, counted) and a status that
/// still cannot be written is held in memory: status is never dropped for logs. The counters and the next sequence
/// live in <c>outbox.state</c>. Nothing here throws on a full or failing disk.
/// </summary>
public sealed partial class PersistentOutbox
{
    private const string StateFileName = "outbox.state";
    private const string StorageArea = "outbox";
    private static readonly Regex KeyPattern = KeyRegex();

    private readonly Lock _gate = new();
    private readonly string _directory;
    private readonly OutboxQuotas _quotas;
    private readonly StorageHealth? _storage;
    private readonly ILogger _logger;
    private readonly SortedDictionary<long, OutboxItem> _status = [];
    private readonly SortedDictionary<long, OutboxItem> _logs = [];
    private long _nextSequence = 1;
    private long _statusBytes;
    private long _logBytes;
    private OutboxCounters _counters = new(0, 0, 0);
    private TaskCompletionSource _itemAdded = NewSignal();

    public PersistentOutbox(string directory, long logQuotaBytes, ILogger<PersistentOutbox> logger)
        : this(directory, OutboxQuotas.Default with { LogBytes = logQuotaBytes }, null, logger)
    {
    }

    public PersistentOutbox(string directory, OutboxQuotas quotas, StorageHealth? storage, ILogger<PersistentOutbox> logger)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(quotas.StatusBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(quotas.LogBytes);
        _directory = directory;
        _quotas = quotas;
        _storage = storage;
        _logger = logger;
        AtomicFile.CreatePrivateDirectory(directory);
        AtomicFile.RemoveTemporaryFiles(directory);
        LoadState();
        ScanItems();
    }

    /// <summary>Raised (outside the outbox's lock) after the controller accepted an item.</summary>
    public event Action<OutboxItem>? Delivered;

    /// <summary>Raised (outside the lock) when an item left the outbox undelivered: refused, over quota or no disk space.</summary>
    public event Action<OutboxItem>? Dropped;

    public OutboxCounters Counters
    {
        get
        {
            lock (_gate)
            {
                return _counters;
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _status.Count + _logs.Count;
            }
        }
    }

    public long TotalBytes
    {
        get
        {
            lock (_gate)
            {
                return _statusBytes + _logBytes;
            }
        }
    }

    /// <summary>Items waiting in <paramref name="lane"/>.</summary>
    public int CountIn(OutboxLane lane)
    {
        lock (_gate)
        {
            return Items(lane).Count;
        }
    }

    /// <summary>
    /// Stores an item durably; older undelivered items with the same kind and key are removed. Returns null when the
    /// item could not be kept (a log item on a full disk; counted as dropped).
    /// </summary>
    public OutboxItem? Enqueue(OutboxKind kind, string? key, ReadOnlySpan<byte> payload)
    {
        if (key is not null && !KeyPattern.IsMatch(key))
        {
            throw new ArgumentException($"Outbox key '{key}' may only hold letters, digits, '-' and '_'.", nameof(key));
        }

        var dropped = new List<OutboxItem>();
        OutboxItem? item;
        lock (_gate)
        {
            var sequence = _nextSequence++;
            var name = key is null ? $"{sequence:D16}.{KindName(kind)}" : $"{sequence:D16}.{KindName(kind)}.{key}";
            // The sequence is persisted first so that a crash after writing the item can never reuse its number.
            SaveState();
            item = Store(new OutboxItem(sequence, kind, key, Path.Combine(_directory, name), payload.Length), payload, dropped);
            if (item is not null)
            {
                if (key is not null)
                {
                    foreach (var older in Items(item.Lane).Values.Where(i => i.Kind == kind && i.Key == key).ToList())
                    {
                        RemoveLocked(older);
                    }
                }

                Items(item.Lane).Add(item.Sequence, item);
                AddBytes(item.Lane, item.SizeBytes);
                EnforceQuotaLocked(item.Lane, dropped);
                _itemAdded.TrySetResult();
            }
        }

        RaiseDropped(dropped);
        return item;
    }

    /// <summary>The next item to send (the oldest status, else the oldest log), or null when the outbox is empty.</summary>
    public OutboxItem? Peek()
    {
        lock (_gate)
        {
            return NextLocked();
        }
    }

    /// <summary>Waits until an item is present and returns the next one to send.</summary>
    public async Task<OutboxItem> WaitForNextAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task signal;
            lock (_gate)
            {
                if (NextLocked() is { } next)
                {
                    return next;
                }

                if (_itemAdded.Task.IsCompleted)
                {
                    _itemAdded = NewSignal();
                }

                signal = _itemAdded.Task;
            }

            await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Removes a delivered item. Harmless when a newer item already superseded it.</summary>
    public void MarkDelivered(OutboxItem item)
    {
        bool removed;
        lock (_gate)
        {
            removed = RemoveLocked(item);
            if (removed)
            {
                _counters = _counters with { Delivered = _counters.Delivered + 1 };
                SaveState();
            }
        }

        if (removed)
        {
            Delivered?.Invoke(item);
        }
    }

    /// <summary>Removes an item the controller refused for good (a non-retriable 4xx), counting it.</summary>
    public void MarkRejected(OutboxItem item)
    {
        bool removed;
        lock (_gate)
        {
            removed = RemoveLocked(item);
            if (removed)
            {
                _counters = _counters with { Rejected = _counters.Rejected + 1 };
                SaveState();
            }
        }

        if (removed)
        {
            Dropped?.Invoke(item);
        }
    }

    /// <summary>
    /// Writes the item's file. On a full or failing disk it drops the oldest logs to make room and tries once more;
    /// then a status item is held in memory and a log item is dropped (null).
    /// </summary>
    private OutboxItem? Store(OutboxItem item, ReadOnlySpan<byte> payload, List<OutboxItem> dropped)
    {
        if (TryWrite(item.FilePath!, payload))
        {
            return item;
        }

        var freed = DropLogsForSpaceLocked(payload.Length + 64 * 1024, dropped);
        if (freed > 0 && TryWrite(item.FilePath!, payload))
        {
            return item;
        }

        if (item.Lane == OutboxLane.Status)
        {
            LogHeldInMemory(_logger, item.Kind, item.Key ?? "");
            return item with { FilePath = null, HeldPayload = payload.ToArray() };
        }

        _counters = _counters with { DroppedDiskFull = _counters.DroppedDiskFull + 1 };
        dropped.Add(item);
        return null;
    }

    private bool TryWrite(string path, ReadOnlySpan<byte> payload)
    {
        try
        {
            AtomicFile.Write(path, payload);
            _storage?.Succeeded(StorageArea);
            return true;
        }
        catch (Exception e) when (StorageHealth.IsStorageFailure(e) || e is UnauthorizedAccessException)
        {
            _storage?.Failed(StorageArea, e);
            return false;
        }
    }

    /// <summary>Drops the oldest log items until <paramref name="bytes"/> are freed (or no logs are left). Returns the bytes freed.</summary>
    private long DropLogsForSpaceLocked(long bytes, List<OutboxItem> dropped)
    {
        long freed = 0;
        var count = 0;
        while (freed < bytes && _logs.Count > 0)
        {
            var oldest = _logs.First().Value;
            RemoveLocked(oldest);
            dropped.Add(oldest);
            freed += oldest.SizeBytes;
            count++;
        }

        if (count > 0)
        {
            _counters = _counters with { DroppedDiskFull = _counters.DroppedDiskFull + count };
            LogDroppedForSpace(_logger, count, freed);
        }

        return freed;
    }

    private OutboxItem? NextLocked() =>
        _status.Count > 0 ? _status.First().Value : _logs.Count > 0 ? _logs.First().Value : null;

    private SortedDictionary<long, OutboxItem> Items(OutboxLane lane) => lane == OutboxLane.Status ? _status : _logs;

    private void AddBytes(OutboxLane lane, long bytes)
    {
        if (lane == OutboxLane.Status)
        {
            _statusBytes += bytes;
        }
        else
        {
            _logBytes += bytes;
        }
    }

    private void EnforceQuotaLocked(OutboxLane lane, List<OutboxItem> dropped)
    {
        var quota = lane == OutboxLane.Status ? _quotas.StatusBytes : _quotas.LogBytes;
        var items = Items(lane);
        var count = 0;
        long droppedBytes = 0;
        while ((lane == OutboxLane.Status ? _statusBytes : _logBytes) > quota && items.Count > 0)
        {
            var oldest = items.First().Value;
            RemoveLocked(oldest);
            dropped.Add(oldest);
            count++;
            droppedBytes += oldest.SizeBytes;
        }

        if (count > 0)
        {
            _counters = _counters with { DroppedOverQuota = _counters.DroppedOverQuota + count };
            SaveState();
            LogDropped(_logger, count, lane, droppedBytes, quota, _counters.DroppedOverQuota);
        }
    }

    private bool RemoveLocked(OutboxItem item)
    {
        if (!Items(item.Lane).Remove(item.Sequence))
        {
            return false;
        }

        AddBytes(item.Lane, -item.SizeBytes);
        if (item.FilePath is { } path)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogDeleteFailed(_logger, path, e.Message);
            }
        }

        return true;
    }

    private void RaiseDropped(List<OutboxItem> dropped)
    {
        foreach (var item in dropped)
        {
            Dropped?.Invoke(item);
        }
    }

    private void ScanItems()
    {
        foreach (var path in Directory.EnumerateFiles(_directory))
        {
            var name = Path.GetFileName(path);
            if (name == StateFileName || name.StartsWith('.'))
            {
                continue;
            }

            var parts = name.Split('.', 3);
            if (parts.Length < 2
                || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
                || ParseKind(parts[1]) is not { } kind)
            {
                LogUnknownFile(_logger, path);
                continue;
            }

            var item = new OutboxItem(sequence, kind, parts.Length == 3 ? parts[2] : null, path, new FileInfo(path).Length);
            Items(item.Lane)[sequence] = item;
            AddBytes(item.Lane, item.SizeBytes);
            _nextSequence = Math.Max(_nextSequence, sequence + 1);
        }

        if (_status.Count + _logs.Count > 0)
        {
            LogResumed(_logger, _status.Count, _logs.Count, _statusBytes + _logBytes);
        }

        var dropped = new List<OutboxItem>();
        EnforceQuotaLocked(OutboxLane.Status, dropped);
        EnforceQuotaLocked(OutboxLane.Logs, dropped);
    }

    private void LoadState()
    {
        string? text;
        try
        {
            text = AtomicFile.TryReadText(Path.Combine(_directory, StateFileName));
        }
        catch (IOException)
        {
            text = null;
        }

        if (text is null)
        {
            return;
        }

        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(f => long.TryParse(f, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0)
            .ToArray();
        if (fields.Length >= 4)
        {
            _nextSequence = Math.Max(1, fields[0]);
            _counters = new OutboxCounters(fields[1], fields[2], fields[3], fields.Length >= 5 ? fields[4] : 0);
        }
    }

    private void SaveState()
    {
        try
        {
            AtomicFile.WriteText(Path.Combine(_directory, StateFileName), string.Create(CultureInfo.InvariantCulture,
                $"{_nextSequence} {_counters.DroppedOverQuota} {_counters.Rejected} {_counters.Delivered} {_counters.DroppedDiskFull}\n"));
        }
        catch (Exception e) when (StorageHealth.IsStorageFailure(e))
        {
            // The counters stay right in memory; only a crash before the disk recovers could reuse a sequence number,
            // and the scan at start moves the sequence past every item file anyway.
            _storage?.Failed(StorageArea, e);
        }
    }

    private static string KindName(OutboxKind kind) => kind switch
    {
        OutboxKind.Info => "info",
        OutboxKind.NewLogs => "newlogs",
        OutboxKind.AppNewLogs => "appnewlogs",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static OutboxKind? ParseKind(string name) => name switch
    {
        "info" => OutboxKind.Info,
        "newlogs" => OutboxKind.NewLogs,
        "appnewlogs" => OutboxKind.AppNewLogs,
        _ => null,
    };

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [GeneratedRegex("^[A-Za-z0-9_-]{1,100}$")]
    private static partial Regex KeyRegex();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox lane {Lane} over its quota of {QuotaBytes} bytes: dropped its {Dropped} oldest undelivered items ({DroppedBytes} bytes); {TotalDropped} dropped so far")]
    private static partial void LogDropped(ILogger logger, int dropped, OutboxLane lane, long droppedBytes, long quotaBytes, long totalDropped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Disk full: dropped the {Dropped} oldest undelivered log items ({Bytes} bytes) to make room")]
    private static partial void LogDroppedForSpace(ILogger logger, int dropped, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Disk full: holding {Kind} {Key} in memory until it is delivered")]
    private static partial void LogHeldInMemory(ILogger logger, OutboxKind kind, string key);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbox resumed with {Status} status and {Logs} log items ({Bytes} bytes) undelivered")]
    private static partial void LogResumed(ILogger logger, int status, int logs, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring unexpected file {Path} in the outbox")]
    private static partial void LogUnknownFile(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not delete outbox file {Path}: {Reason}")]
    private static partial void LogDeleteFailed(ILogger logger, string path, string reason);
}
