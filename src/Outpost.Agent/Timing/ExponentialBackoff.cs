namespace Outpost.Agent.Timing;

/// <summary>A delay that starts at <c>first</c>, doubles after every failure up to <c>max</c>, and resets on success.</summary>
public sealed class ExponentialBackoff
{
    private readonly TimeSpan _first;
    private readonly TimeSpan _max;
    private TimeSpan _next;

    public ExponentialBackoff(TimeSpan first, TimeSpan max)
    {
        _first = first;
        _max = max;
        _next = first;
    }

    /// <summary>The delay to wait now; the following call returns twice as much (capped).</summary>
    public TimeSpan NextDelay()
    {
        var current = _next;
        _next = After(current, _first, _max);
        return current;
    }

    /// <summary>
    /// The same rule without state, for callers that keep their delays in immutable records: <paramref name="first"/>
    /// when there was no delay before, otherwise twice <paramref name="previous"/>, capped at <paramref name="max"/>.
    /// </summary>
    public static TimeSpan After(TimeSpan? previous, TimeSpan first, TimeSpan max) =>
        previous is { } wait ? TimeSpan.FromTicks(Math.Min(max.Ticks, wait.Ticks * 2)) : first;

    public void Reset() => _next = _first;
}
