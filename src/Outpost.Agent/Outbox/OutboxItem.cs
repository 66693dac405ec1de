namespace Outpost.Agent.Outbox;

/// <summary>What an outbox item is, which decides the endpoint it goes to and its lane.</summary>
public enum OutboxKind
{
    /// <summary>A serialized ZInfoMsg, posted to id/{uuid}/info. Status lane.</summary>
    Info,
    /// <summary>One gzip newlogs file, posted raw to id/{uuid}/newlogs. Log lane.</summary>
    NewLogs,
    /// <summary>One gzip newlogs file of an app's console; its key is "APPUUID_OFFSET_TIME"; posted to apps/instanceid/{app}/newlogs. Log lane.</summary>
    AppNewLogs,
}

/// <summary>
/// The outbox's two lanes. Status (info messages) always goes first and has its own quota; logs go when no status
/// waits, and are what is dropped first when space runs out.
/// </summary>
public enum OutboxLane
{
    Status,
    Logs,
}

/// <summary>
/// One stored message. <see cref="Key"/> names the object it reports (e.g. "device"): a newer item with the same
/// kind and key supersedes an older undelivered one. <see cref="FilePath"/> is null for an item that could not be
/// written because the disk is full; it is held in memory until delivered (status only).
/// </summary>
public sealed record OutboxItem(long Sequence, OutboxKind Kind, string? Key, string? FilePath, long SizeBytes)
{
    internal byte[]? HeldPayload { get; init; }

    public OutboxLane Lane => LaneOf(Kind);

    public byte[] ReadPayload() => HeldPayload ?? File.ReadAllBytes(FilePath!);

    public static OutboxLane LaneOf(OutboxKind kind) => kind == OutboxKind.Info ? OutboxLane.Status : OutboxLane.Logs;
}

/// <summary>Counters the outbox keeps across restarts; reported as metric items.</summary>
/// <param name="DroppedOverQuota">Items dropped because their lane was over its byte quota (oldest first).</param>
/// <param name="Rejected">Items the controller refused for good (a non-retriable 4xx).</param>
/// <param name="Delivered">Items the controller accepted.</param>
/// <param name="DroppedDiskFull">Log items dropped because the disk was full.</param>
public sealed record OutboxCounters(long DroppedOverQuota, long Rejected, long Delivered, long DroppedDiskFull = 0);

/// <summary>Byte quotas per lane.</summary>
public sealed record OutboxQuotas(long StatusBytes, long LogBytes)
{
    public static OutboxQuotas Default { get; } = new(8L * 1024 * 1024, 64L * 1024 * 1024);
}
