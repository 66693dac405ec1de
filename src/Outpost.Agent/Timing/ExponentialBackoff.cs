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
        _next = TimeSpan.FromTicks(Math.Min(_max.Ticks, current.Ticks * 2));
        return current;
    }

    public void Reset() => _next = _first;
}
