namespace Outpost.Agent.Reporting;

/// <summary>
/// Where the host's /sys, /proc, /etc and /dev are. The device report reads only below these, so tests can point
/// them at a temp folder holding a fake sysfs tree and a real GPT disk image.
/// </summary>
public sealed record HostRoots(string Sys, string Proc, string Etc, string Dev)
{
    public static HostRoots Host { get; } = new("/sys", "/proc", "/etc", "/dev");

    /// <summary>sys, proc, etc and dev below <paramref name="directory"/>.</summary>
    public static HostRoots Under(string directory) => new(
        Path.Combine(directory, "sys"), Path.Combine(directory, "proc"), Path.Combine(directory, "etc"), Path.Combine(directory, "dev"));
}
