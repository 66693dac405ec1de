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

    /// <summary>An app that ended by itself is started again by its restart policy after this, doubling while it keeps ending.</summary>
    public TimeSpan RestartDelayFirst { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between restarts of an app that keeps ending (Kubernetes' crash-loop cap).</summary>
    public TimeSpan RestartDelayMax { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>An app that ran at least this long before it ended is restarted after <see cref="RestartDelayFirst"/> again.</summary>
    public TimeSpan RestartDelayReset { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Stop every app when the agent stops (SIGTERM, Ctrl-C). Off on a device, where apps outlive an agent restart
    /// and are adopted by the next run; on for `outpost demo`, which leaves nothing running when it exits.
    /// </summary>
    public bool StopAppsOnExit { get; init; }

    /// <summary>KVM or TCG for VM apps; Auto uses KVM only where it works (see KvmSupport).</summary>
    public Workloads.Qemu.QemuAccelRequest VmAccelerator { get; init; } = Workloads.Qemu.QemuAccelRequest.Auto;

    /// <summary>The kernel and initrd of container VMs (`outpost image container-vm-kit`); null: where an Outpost OS image has them.</summary>
    public string? ContainerVmKitDirectory { get; init; }

    /// <summary>The runc binary; null uses "runc" from PATH.</summary>
    public string? RuncPath { get; init; }
}
