namespace Outpost.Agent.Timing;

/// <summary>
/// EVE spreads periodic requests of many devices over time: the config poll waits a uniformly random
/// time in [0.3×, 1.0×] of its interval so a fleet that booted together does not poll in lockstep.
/// </summary>
public static class Jitter
{
    public static TimeSpan ConfigPoll(TimeSpan interval, Random? random = null) =>
        TimeSpan.FromTicks((long)(interval.Ticks * (0.3 + (0.7 * (random ?? Random.Shared).NextDouble()))));
}
