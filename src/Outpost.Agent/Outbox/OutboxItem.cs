namespace Outpost.Agent.Outbox;

/// <summary>What an outbox item is, which decides the endpoint it goes to.</summary>
public enum OutboxKind
{
    /// <summary>A serialized ZInfoMsg, posted to id/{uuid}/info.</summary>
    Info,
    /// <summary>One gzip newlogs file, posted raw to id/{uuid}/newlogs.</summary>
    NewLogs,
    /// <summary>One gzip newlogs file of an app's console; its key is "APPUUID_OFFSET"; posted to apps/instanceid/{app}/newlogs.</summary>
    AppNewLogs,
}

/// <summary>
/// One stored message. <see cref="Key"/> names the object it reports (e.g. "device"): a newer item with the same
/// kind and key supersedes an older undelivered one.
/// </summary>
public sealed record OutboxItem(long Sequence, OutboxKind Kind, string? Key, string FilePath, long SizeBytes)
{
    public byte[] ReadPayload() => File.ReadAllBytes(FilePath);
}

/// <summary>Counters the outbox keeps across restarts; reported as metric items.</summary>
public sealed record OutboxCounters(long DroppedOverQuota, long Rejected, long Delivered);
