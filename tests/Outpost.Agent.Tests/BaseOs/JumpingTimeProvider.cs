namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// The system clock, plus whatever the test has jumped it ahead by. Timers and delays run in real time (the agent's
/// sockets, retries and polls behave as usual); only the wall-clock time moves, which is what the BaseOs test window
/// (EVE's minimum of 30 s) is measured in. A jump is a clock that moved, not a frozen one: nothing waits for the test.
/// </summary>
public sealed class JumpingTimeProvider : TimeProvider
{
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        System.CreateTimer(callback, state, dueTime, period);

    public override long GetTimestamp() => System.GetTimestamp();

    public override long TimestampFrequency => System.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public void Jump(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);
}
