namespace Outpost.Agent;

/// <summary>
/// Retry and refresh periods. The defaults are EVE's; tests shorten them. Periods the controller controls
/// (config, metrics, device info) come from config items instead.
/// </summary>
public sealed record AgentTimings
{
    /// <summary>Onboarding retries start here and double (EVE: 1 s).</summary>
    public TimeSpan OnboardingRetryFirst { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Onboarding retries are capped here (EVE: 10 min).</summary>
    public TimeSpan OnboardingRetryMax { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Outbox delivery retries start here and double.</summary>
    public TimeSpan OutboxRetryFirst { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Outbox delivery retries are capped here (EVE: 15 min).</summary>
    public TimeSpan OutboxRetryMax { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>A failed config poll retries after this, doubling up to the config interval.</summary>
    public TimeSpan ConfigRetryFirst { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>After 400/404 on config, /uuid (+ register) runs again at most this often (EVE: 10 min).</summary>
    public TimeSpan UuidRefreshMinimum { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often captured log lines are packed into newlogs files and queued.</summary>
    public TimeSpan LogFlushInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the device info is rebuilt to look for changes (it is sent only when it changed).</summary>
    public TimeSpan DeviceInfoCheckInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Per-request limit (EVE: timer.send.timeout, 120 s).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>How often object status is looked at again when nothing changed (a refused status comes due, a deletion was delivered).</summary>
    public TimeSpan StatusRetryInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A status the controller refused (or that was dropped) is offered again after this, doubling up to <see cref="StatusRefusedRetryMax"/>.</summary>
    public TimeSpan StatusRefusedRetryFirst { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan StatusRefusedRetryMax { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long a reboot or shutdown waits for the apps to halt before it goes on (EVE: 300 s).</summary>
    public TimeSpan AppHaltTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a reboot waits for the status in the outbox (REBOOTING) to reach the controller.</summary>
    public TimeSpan RebootReportWait { get; init; } = TimeSpan.FromSeconds(10);
}
