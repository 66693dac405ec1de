using Outpost.Agent.Content;

namespace Outpost.Agent.Apps;

/// <summary>How the agent runs apps. Defaults suit a device; tests shorten the periods.</summary>
public sealed record AppRuntimeOptions
{
    /// <summary>False leaves apps alone entirely (e.g. a host that only tests the uplink).</summary>
    public bool Enabled { get; init; } = true;

    public ContentStoreOptions Content { get; init; } = new();

    /// <summary>How long an app may take to end after SIGTERM before it is killed.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the reconcilers look again even when nothing was signalled (exits, console output, metrics).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>After a failed driver step, the same app is tried again after this, doubling up to <see cref="RetryMax"/>.</summary>
    public TimeSpan RetryFirst { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan RetryMax { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The runc binary; null uses "runc" from PATH.</summary>
    public string? RuncPath { get; init; }
}
