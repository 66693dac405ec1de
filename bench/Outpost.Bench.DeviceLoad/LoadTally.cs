namespace Outpost.Bench.DeviceLoad;

/// <summary>
/// What the measured phase saw: latencies per request kind and every unexpected outcome by kind. Each worker
/// keeps its own and they are merged at the end, so recording needs no locks.
/// </summary>
public sealed class LoadTally
{
    private readonly Dictionary<RequestKind, LatencyHistogram> _latencies =
        RequestKinds.All.ToDictionary(kind => kind, _ => new LatencyHistogram());

    private readonly Dictionary<(RequestKind Kind, string Outcome), long> _errors = [];
    private long _unanswered;

    public LatencyHistogram LatencyOf(RequestKind kind) => _latencies[kind];

    /// <summary>Errors keyed by kind and outcome: an HTTP status code, or the exception that replaced one.</summary>
    public IReadOnlyDictionary<(RequestKind Kind, string Outcome), long> Errors => _errors;

    public long ErrorCount => _errors.Values.Sum();

    /// <summary>Every request sent: answered ones carry a latency, unanswered ones only an error.</summary>
    public long RequestCount => _latencies.Values.Sum(histogram => histogram.Count) + _unanswered;

    public void RecordAnswer(RequestKind kind, long microseconds, int status)
    {
        _latencies[kind].Record(microseconds);
        if (status != (int)kind.ExpectedStatus())
        {
            AddError(kind, status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>A request that got no HTTP answer (connection failure, timeout): it has no meaningful latency.</summary>
    public void RecordUnanswered(RequestKind kind, Exception exception)
    {
        _unanswered++;
        AddError(kind, exception.GetType().Name);
    }

    private void AddError(RequestKind kind, string outcome) =>
        _errors[(kind, outcome)] = _errors.GetValueOrDefault((kind, outcome)) + 1;

    public LatencyHistogram Overall()
    {
        var overall = new LatencyHistogram();
        foreach (var histogram in _latencies.Values)
        {
            overall.Add(histogram);
        }

        return overall;
    }

    public static LoadTally Merge(IEnumerable<LoadTally> tallies)
    {
        var merged = new LoadTally();
        foreach (var tally in tallies)
        {
            foreach (var (kind, histogram) in tally._latencies)
            {
                merged._latencies[kind].Add(histogram);
            }

            foreach (var (key, count) in tally._errors)
            {
                merged._errors[key] = merged._errors.GetValueOrDefault(key) + count;
            }

            merged._unanswered += tally._unanswered;
        }

        return merged;
    }
}
