using System.Collections.Concurrent;
using Outpost.Agent.Bus;
using Outpost.Agent.Reporting.Proc;

namespace Outpost.Agent.Persistence;

/// <summary>What the agent last saw of its state directory's file system; device info reports it.</summary>
public sealed record StorageCondition(bool DiskFull, ulong FreeBytes, ulong TotalBytes, string? LastError, DateTimeOffset? LastErrorAt) : IKeyed
{
    public const string SingletonKey = "storage";

    public string Key => SingletonKey;
}

/// <summary>
/// Where every writer of the state directory reports what happened to its writes, so a full disk (ENOSPC, EDQUOT) or
/// a failing one (EIO, EROFS) is a condition the device reports instead of an exception that ends a loop. Writers
/// carry on without the write (dropping logs first); <see cref="Evaluate"/> turns the reports and the free space into
/// a <see cref="StorageCondition"/> on the bus, which clears by itself once writes succeed and space is back.
/// </summary>
public sealed class StorageHealth(string stateDirectory, StateBus bus, TimeProvider time)
{
    /// <summary>Below this much free space the state file system counts as full even before a write fails.</summary>
    public const ulong MinimumFreeBytes = 4 * 1024 * 1024;

    private readonly ConcurrentDictionary<string, (string Error, DateTimeOffset At, bool DiskFull)> _failing = new(StringComparer.Ordinal);
    private long _writeFailures;

    /// <summary>Writes that failed so far (metric item storage.write.failures).</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    /// <summary>True when <paramref name="e"/> is a storage failure the agent must survive: the disk is full or failing.</summary>
    public static bool IsStorageFailure(Exception e) => e is IOException and not (FileNotFoundException or DirectoryNotFoundException or EndOfStreamException);

    /// <summary>True when <paramref name="e"/> says the file system is out of space (ENOSPC) or quota (EDQUOT).</summary>
    public static bool IsDiskFull(Exception e) =>
        e is IOException io && (io.HResult is Errno.NoSpace or Errno.QuotaExceeded
            || io.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase)
            || io.Message.Contains("quota exceeded", StringComparison.OrdinalIgnoreCase));

    /// <summary>A write in <paramref name="area"/> (e.g. "outbox", "log journal", "lastconfig") failed.</summary>
    public void Failed(string area, Exception e)
    {
        Interlocked.Increment(ref _writeFailures);
        _failing[area] = (e.Message, time.GetUtcNow(), IsDiskFull(e));
        Evaluate();
    }

    /// <summary>A write in <paramref name="area"/> succeeded: whatever failed there before is over.</summary>
    public void Succeeded(string area)
    {
        if (_failing.TryRemove(area, out _))
        {
            Evaluate();
        }
    }

    /// <summary>Publishes the current condition (free space now, failures still outstanding) and returns it.</summary>
    public StorageCondition Evaluate()
    {
        ulong free = 0, total = 0;
        try
        {
            var usage = FileSystemUsage.Of(stateDirectory);
            (free, total) = (usage.FreeBytes, usage.TotalBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // statvfs itself failing says enough: report what the writers saw.
        }

        var failures = _failing.ToArray();
        var latest = failures.OrderByDescending(f => f.Value.At).Select(f => (f.Key, f.Value.Error, f.Value.At)).FirstOrDefault();
        // A failed write only counts while space is still short: once the space is back the next write will work.
        var full = (total > 0 && free < MinimumFreeBytes) || failures.Any(f => f.Value.DiskFull && free < 4 * MinimumFreeBytes);
        var condition = new StorageCondition(full, free, total,
            latest.Key is null ? null : $"{latest.Key}: {latest.Error}", latest.Key is null ? null : latest.At);
        bus.Topic<StorageCondition>().Publish(condition with { FreeBytes = Round(free), TotalBytes = Round(total) });
        return condition;
    }

    // The bus record keeps MiB precision so that every byte written does not count as a change.
    private static ulong Round(ulong bytes) => bytes / (1024 * 1024) * (1024 * 1024);

    /// <summary>The errno values .NET puts in IOException.HResult on Linux.</summary>
    public static class Errno
    {
        public const int Io = 5;
        public const int NoSpace = 28;
        public const int ReadOnlyFileSystem = 30;
        public const int QuotaExceeded = 122;
    }
}
