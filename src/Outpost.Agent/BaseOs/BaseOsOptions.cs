namespace Outpost.Agent.BaseOs;

/// <summary>
/// Where the BaseOs subsystem finds the boot disk. On a device everything is found by itself (the partition the
/// kernel booted, its disk under /dev, the kernel command line); tests give a disk image and a label instead.
/// </summary>
public sealed record BaseOsOptions
{
    /// <summary>Opens the whole boot disk read-write; null = the disk of the booted partition (from sysfs).</summary>
    public Func<Stream>? OpenDisk { get; init; }

    /// <summary>The booted slot; null = the host's (root=PARTLABEL= of /proc/cmdline).</summary>
    public string? BootLabel { get; init; }

    /// <summary>The kernel command line; null = /proc/cmdline.</summary>
    public string? Cmdline { get; init; }

    /// <summary>Where the reconciler looks again when nothing woke it (progress of a test window, a pending reboot).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);
}
