using Outpost.Agent.Node;

namespace Outpost.Agent.Workloads.Runc;

/// <param name="StateRoot">The agent's state directory; the driver uses its "workloads" and "runc" subdirectories.</param>
public sealed record RuncDriverOptions(string StateRoot)
{
    /// <summary>The runc binary: a path, or a name looked up on PATH.</summary>
    public string RuncPath { get; init; } = "runc";

    /// <summary>console.log is rotated (one old file kept) once it passes this size.</summary>
    public long ConsoleLogMaxBytes { get; init; } = 1024 * 1024;

    /// <summary>How long StartAsync waits for runc to report the container running.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>False forces the copy fallback (for hosts where overlay misbehaves, and for tests).</summary>
    public bool UseOverlay { get; init; } = true;

    /// <summary>
    /// The host's current boot (/proc/sys/kernel/random/boot_id). A workload started under another boot id was lost
    /// when the host restarted, whatever runc's saved state says.
    /// </summary>
    public string BootId { get; init; } = HostBoot.ReadBootId(HostBoot.DefaultBootIdPath);
}
