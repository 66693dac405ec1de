using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Persistence;

namespace Outpost.Agent.Outbox;

/// <summary>
/// A durable FIFO of reliable messages (info, newlogs) in STATEDIR/outbox. Each item is one file named
/// <c>{sequence:D16}.{kind}[.{key}]</c>, written atomically before anyone tries to send it, so a crash or
/// reboot loses nothing that was accepted. A byte quota bounds the directory: past it the oldest items are
/// dropped and counted. The counters and the next sequence live in <c>outbox.state</c>.
/// </summary>
public sealed partial class PersistentOutbox
{
    private const string StateFileName = "outbox.state";
    private static readonly Regex KeyPattern = KeyRegex();

    private readonly Lock _gate = new();
    private readonly string _directory;
    private readonly long _quotaBytes;
    private readonly ILogger _logger;
    private readonly SortedDictionary<long, OutboxItem> _items = [];
    private long _nextSequence = 1;
    private long _totalBytes;
    private OutboxCounters _counters = new(0, 0, 0);
    private TaskCompletionSource _itemAdded = NewSignal();

    public PersistentOutbox(string directory, long quotaBytes, ILogger<PersistentOutbox> logger)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(quotaBytes);
        _directory = directory;
        _quotaBytes = quotaBytes;
        _logger = logger;
        Directory.CreateDirectory(directory);
        AtomicFile.RemoveTemporaryFiles(directory);
        LoadState();
        ScanItems();
    }

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
                return _items.Count;
            }
        }
    }

    public long TotalBytes
    {
        get
        {
            lock (_gate)
            {
                return _totalBytes;
            }
        }
    }

    /// <summary>Stores an item durably; older undelivered items with the same kind and key are removed.</summary>
    public OutboxItem Enqueue(OutboxKind kind, string? key, ReadOnlySpan<byte> payload)
    {
        if (key is not null && !KeyPattern.IsMatch(key))
        {
            throw new ArgumentException($"Outbox key '{key}' may only hold letters, digits, '-' and '_'.", nameof(key));
        }

        lock (_gate)
        {
            var sequence = _nextSequence++;
            var name = key is null ? $"{sequence:D16}.{KindName(kind)}" : $"{sequence:D16}.{KindName(kind)}.{key}";
            var path = Path.Combine(_directory, name);
            // The sequence is persisted first so that a crash after writing the item can never reuse its number.
            SaveState();
            AtomicFile.Write(path, payload);
            var item = new OutboxItem(sequence, kind, key, path, payload.Length);

            if (key is not null)
            {
                foreach (var older in _items.Values.Where(i => i.Kind == kind && i.Key == key).ToList())
                {
                    RemoveLocked(older);
                }
            }

            _items.Add(sequence, item);
            _totalBytes += item.SizeBytes;
            EnforceQuotaLocked();
            _itemAdded.TrySetResult();
            return item;
        }
    }

    /// <summary>The oldest item, or null when the outbox is empty.</summary>
    public OutboxItem? Peek()
    {
        lock (_gate)
        {
            return _items.Count == 0 ? null : _items.First().Value;
        }
    }

    /// <summary>Waits until an item is present and returns the oldest one.</summary>
    public async Task<OutboxItem> WaitForOldestAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task signal;
            lock (_gate)
            {
                if (_items.Count > 0)
                {
                    return _items.First().Value;
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
        lock (_gate)
        {
            if (RemoveLocked(item))
            {
                _counters = _counters with { Delivered = _counters.Delivered + 1 };
                SaveState();
            }
        }
    }

    /// <summary>Removes an item the controller refused for good (a non-retriable 4xx), counting it.</summary>
    public void MarkRejected(OutboxItem item)
    {
        lock (_gate)
        {
            if (RemoveLocked(item))
            {
                _counters = _counters with { Rejected = _counters.Rejected + 1 };
                SaveState();
            }
        }
    }

    private void EnforceQuotaLocked()
    {
        var dropped = 0;
        long droppedBytes = 0;
        while (_totalBytes > _quotaBytes && _items.Count > 0)
        {
            var oldest = _items.First().Value;
            RemoveLocked(oldest);
            dropped++;
            droppedBytes += oldest.SizeBytes;
        }

        if (dropped > 0)
        {
            _counters = _counters with { DroppedOverQuota = _counters.DroppedOverQuota + dropped };
            SaveState();
            LogDropped(_logger, dropped, droppedBytes, _quotaBytes, _counters.DroppedOverQuota);
        }
    }

    private bool RemoveLocked(OutboxItem item)
    {
        if (!_items.Remove(item.Sequence))
        {
            return false;
        }

        _totalBytes -= item.SizeBytes;
        try
        {
            File.Delete(item.FilePath);
        }
        catch (IOException e)
        {
            LogDeleteFailed(_logger, item.FilePath, e.Message);
        }

        return true;
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
            _items[sequence] = item;
            _totalBytes += item.SizeBytes;
            _nextSequence = Math.Max(_nextSequence, sequence + 1);
        }

        if (_items.Count > 0)
        {
            LogResumed(_logger, _items.Count, _totalBytes);
        }

        EnforceQuotaLocked();
    }

    private void LoadState()
    {
        var text = AtomicFile.TryReadText(Path.Combine(_directory, StateFileName));
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
            _counters = new OutboxCounters(fields[1], fields[2], fields[3]);
        }
    }

    private void SaveState() =>
        AtomicFile.WriteText(Path.Combine(_directory, StateFileName),
            string.Create(CultureInfo.InvariantCulture, $"{_nextSequence} {_counters.DroppedOverQuota} {_counters.Rejected} {_counters.Delivered}\n"));

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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox over its quota of {QuotaBytes} bytes: dropped the {Dropped} oldest undelivered items ({DroppedBytes} bytes); {TotalDropped} dropped so far")]
    private static partial void LogDropped(ILogger logger, int dropped, long droppedBytes, long quotaBytes, long totalDropped);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbox resumed with {Count} undelivered items ({Bytes} bytes)")]
    private static partial void LogResumed(ILogger logger, int count, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring unexpected file {Path} in the outbox")]
    private static partial void LogUnknownFile(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not delete outbox file {Path}: {Reason}")]
    private static partial void LogDeleteFailed(ILogger logger, string path, string reason);
}
