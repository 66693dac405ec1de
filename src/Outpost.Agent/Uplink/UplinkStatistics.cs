using System.Collections.Concurrent;

namespace Outpost.Agent.Uplink;

/// <summary>Counts per URL, reported as deviceMetric.zedcloud.</summary>
public sealed class UrlStatistics
{
    private long _success;
    private long _failure;
    private long _sentBytes;
    private long _receivedBytes;

    public long Success => Interlocked.Read(ref _success);

    public long Failure => Interlocked.Read(ref _failure);

    public long SentBytes => Interlocked.Read(ref _sentBytes);

    public long ReceivedBytes => Interlocked.Read(ref _receivedBytes);

    public DateTimeOffset? LastSuccess { get; private set; }

    public DateTimeOffset? LastFailure { get; private set; }

    internal void Record(bool success, long sent, long received, DateTimeOffset at)
    {
        if (success)
        {
            Interlocked.Increment(ref _success);
            LastSuccess = at;
        }
        else
        {
            Interlocked.Increment(ref _failure);
            LastFailure = at;
        }

        Interlocked.Add(ref _sentBytes, sent);
        Interlocked.Add(ref _receivedBytes, received);
    }
}

/// <summary>
/// What the uplink has seen: per-URL success/failure counts and how many responses were refused because
/// their signature or signer did not check out.
/// </summary>
public sealed class UplinkStatistics
{
    private long _rejectedResponses;
    private long _refusedConfigs;

    public ConcurrentDictionary<string, UrlStatistics> Urls { get; } = new(StringComparer.Ordinal);

    public long RejectedResponses => Interlocked.Read(ref _rejectedResponses);

    /// <summary>Configs refused whole (another device's, or beyond the bounds); the last good one kept running.</summary>
    public long RefusedConfigs => Interlocked.Read(ref _refusedConfigs);

    public DateTimeOffset? LastConfigReceived { get; set; }

    public void Record(string path, bool success, long sent, long received, DateTimeOffset at) =>
        Urls.GetOrAdd(path, _ => new UrlStatistics()).Record(success, sent, received, at);

    public void CountRejectedResponse() => Interlocked.Increment(ref _rejectedResponses);

    public void CountRefusedConfig() => Interlocked.Increment(ref _refusedConfigs);
}
