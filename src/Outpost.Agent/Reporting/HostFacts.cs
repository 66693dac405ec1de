using System.Runtime.InteropServices;

namespace Outpost.Agent.Reporting;

/// <summary>Facts about the host that do not change while the agent runs, read once from /sys, /proc and /etc.</summary>
/// <param name="OperatingSystem">"Outpost VERSION" on an Outpost OS image, else os-release's PRETTY_NAME.</param>
/// <param name="BootPartitionLabel">IMGA or IMGB when the host booted from an Outpost disk, else null.</param>
/// <param name="Release">/etc/outpost-release, null on a host that is not an Outpost OS.</param>
public sealed record HostFacts(
    string MachineArchitecture,
    string OperatingSystem,
    string KernelRelease,
    string HostName,
    string? Manufacturer,
    string? ProductName,
    string? ProductVersion,
    string? ProductSerial,
    string? BootPartitionLabel,
    int CpuCount,
    OutpostRelease? Release = null)
{
    public static HostFacts Read(HostRoots? roots = null)
    {
        roots ??= HostRoots.Host;
        string? Dmi(string name) => ReadTrimmed(Path.Combine(roots.Sys, "class", "dmi", "id", name));
        var release = OutpostRelease.Read(roots.Etc);
        return new HostFacts(
            UnameMachine(RuntimeInformation.OSArchitecture),
            // An Outpost image's os-release belongs to the userland it was built from (busybox, Alpine...); the OS
            // the device runs is Outpost, at the version the image builder recorded.
            release?.OperatingSystem ?? PrettyOsName(ReadTrimmed(Path.Combine(roots.Etc, "os-release"))) ?? RuntimeInformation.OSDescription,
            ReadTrimmed(Path.Combine(roots.Proc, "sys", "kernel", "osrelease")) ?? "",
            Environment.MachineName,
            Dmi("sys_vendor"),
            Dmi("product_name"),
            Dmi("product_version"),
            Dmi("product_serial"),
            BootPartition(ReadTrimmed(Path.Combine(roots.Proc, "cmdline"))),
            OnlineCpus(ReadTrimmed(Path.Combine(roots.Sys, "devices", "system", "cpu", "online"))) ?? Environment.ProcessorCount,
            release);
    }

    /// <summary>The version of the OS that is running: the Outpost release's, or the agent's own on any other host.</summary>
    public string RunningVersion(string agentVersion) => Release?.Version ?? agentVersion;

    /// <summary>
    /// The number of CPUs in a cpu list such as /sys/devices/system/cpu/online ("0-3,6,8-9"): the host's CPUs, not
    /// the ones this process's affinity or cgroup happen to allow (which is what Environment.ProcessorCount counts).
    /// </summary>
    public static int? OnlineCpus(string? cpuList)
    {
        if (string.IsNullOrWhiteSpace(cpuList))
        {
            return null;
        }

        var count = 0;
        foreach (var part in cpuList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var bounds = part.Split('-');
            if (!int.TryParse(bounds[0], out var first) || (bounds.Length == 2 ? !int.TryParse(bounds[1], out var last) : (last = first) < 0) || last < first)
            {
                return null;
            }

            count += last - first + 1;
        }

        return count > 0 ? count : null;
    }

    /// <summary>The names `uname -m` prints, which is what EVE reports as machineArch.</summary>
    public static string UnameMachine(Architecture architecture) => architecture switch
    {
        Architecture.X64 => "x86_64",
        Architecture.Arm64 => "aarch64",
        Architecture.X86 => "i686",
        Architecture.Arm => "armv7l",
        Architecture.RiscV64 => "riscv64",
        _ => architecture.ToString().ToLowerInvariant(),
    };

    /// <summary>PRETTY_NAME from an os-release file, without quotes.</summary>
    public static string? PrettyOsName(string? osRelease) =>
        osRelease?.Split('\n')
            .Where(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))
            .Select(l => l["PRETTY_NAME=".Length..].Trim().Trim('"'))
            .FirstOrDefault();

    /// <summary>
    /// An Outpost OS image boots with root=PARTLABEL=IMGA or IMGB (EVE's partition names); any other command line
    /// means a host that did not boot from an Outpost disk (a development machine), which has no partition to report.
    /// </summary>
    public static string? BootPartition(string? kernelCommandLine) =>
        kernelCommandLine?.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a.StartsWith("root=PARTLABEL=", StringComparison.Ordinal) ? a["root=PARTLABEL=".Length..] : null)
            .FirstOrDefault(l => l is "IMGA" or "IMGB");

    private static string? ReadTrimmed(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return text.Length == 0 ? null : text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
