namespace Outpost.Bench.DeviceLoad;

/// <summary>
/// Latencies in microseconds, in log-linear buckets as HdrHistogram keeps them: exact below 128 µs, then 64
/// buckets per power of two (within 1.6%). Fixed memory however long the run, so recording never allocates.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBucketBits = 6;
    private const int SubBuckets = 1 << SubBucketBits;
    private const int MaxMagnitude = 40;

    private readonly long[] _counts = new long[(MaxMagnitude + 2) * SubBuckets];

    public long Count { get; private set; }

    public long MaxMicroseconds { get; private set; }

    public void Record(long microseconds)
    {
        microseconds = Math.Max(0, microseconds);
        _counts[IndexOf(microseconds)]++;
        Count++;
        MaxMicroseconds = Math.Max(MaxMicroseconds, microseconds);
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        MaxMicroseconds = Math.Max(MaxMicroseconds, other.MaxMicroseconds);
    }

    /// <summary>The latency at or below which <paramref name="percentile"/> percent of requests finished.</summary>
    public double PercentileMilliseconds(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = (long)Math.Ceiling(percentile / 100 * Count);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= Math.Max(1, rank))
            {
                // The bucket's upper edge, capped by the true maximum, so p100 equals max.
                return Math.Min(UpperEdgeOf(i), MaxMicroseconds) / 1000.0;
            }
        }

        return MaxMicroseconds / 1000.0;
    }

    private static int IndexOf(long value)
    {
        var magnitude = (int)Math.Max(0, 63 - long.LeadingZeroCount(value) - SubBucketBits);
        magnitude = Math.Min(magnitude, MaxMagnitude);
        return (int)Math.Min(magnitude * SubBuckets + (value >> magnitude), (MaxMagnitude + 2) * SubBuckets - 1);
    }

    private static long UpperEdgeOf(int index)
    {
        var magnitude = Math.Max(0, index / SubBuckets - 1);
        var subBucket = index - magnitude * SubBuckets;
        return ((subBucket + 1L) << magnitude) - 1;
    }
}
