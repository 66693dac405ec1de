namespace Outpost.Agent.Workloads.Qemu;

/// <summary>What the user asked for: <c>auto</c> lets <see cref="KvmSupport.Choose"/> decide.</summary>
public enum QemuAccelRequest
{
    Auto,
    Kvm,
    Tcg,
}

/// <summary>Whether this host can run guests under KVM, and why (printed as is).</summary>
public sealed record KvmProbe(bool Usable, string Reason);

/// <summary>The accelerator picked and the sentence that explains it.</summary>
public sealed record QemuAccelChoice(QemuAccelerator Accelerator, string Reason);

/// <summary>
/// KVM only where it works: /dev/kvm must open read-write AND the CPU must show hardware virtualization (vmx or svm in
/// /proc/cpuinfo). A /dev/kvm without either flag is a paravirtual KVM (such as kvm_pvm inside a cloud VM) that hangs
/// stock kernels, so there TCG is the safe choice.
/// </summary>
public static class KvmSupport
{
    public const string DevicePath = "/dev/kvm";
    public const string CpuInfoPath = "/proc/cpuinfo";

    public static KvmProbe Probe() =>
        Probe(File.Exists(CpuInfoPath) ? File.ReadAllText(CpuInfoPath) : "", DevicePath);

    /// <param name="cpuinfo">The text of /proc/cpuinfo.</param>
    /// <param name="devicePath">The KVM device to try to open read-write.</param>
    public static KvmProbe Probe(string cpuinfo, string devicePath)
    {
        if (OpenProblem(devicePath) is { } problem)
        {
            return new KvmProbe(false, problem);
        }

        return VirtualizationFlag(cpuinfo) is { } flag
            ? new KvmProbe(true, $"{devicePath} opens read-write and the CPU has {flag}")
            : new KvmProbe(false, $"{devicePath} opens but /proc/cpuinfo has neither vmx nor svm: a paravirtual KVM (such as kvm_pvm) hangs stock kernels");
    }

    public static QemuAccelChoice Choose(QemuAccelRequest request, Func<KvmProbe> probe)
    {
        switch (request)
        {
            case QemuAccelRequest.Tcg:
                return new QemuAccelChoice(QemuAccelerator.Tcg, "asked for");
            case QemuAccelRequest.Kvm:
                // Asked for explicitly: the user may know better (a paravirtual KVM that does boot their kernel); say what we saw.
                var forced = probe();
                return new QemuAccelChoice(QemuAccelerator.Kvm, forced.Usable ? "asked for" : $"asked for, although {forced.Reason}");
            default:
                var seen = probe();
                return new QemuAccelChoice(seen.Usable ? QemuAccelerator.Kvm : QemuAccelerator.Tcg, seen.Reason);
        }
    }

    /// <summary>"vmx" or "svm" when a <c>flags</c> line of cpuinfo lists it as a whole word, else null.</summary>
    public static string? VirtualizationFlag(string cpuinfo)
    {
        foreach (var line in cpuinfo.Split('\n'))
        {
            var colon = line.IndexOf(':');
            // Only the "flags" key: newer kernels also print "vmx flags", a list of VMX features, not the CPU flag itself.
            if (colon < 0 || line[..colon].Trim() != "flags")
            {
                continue;
            }

            var flags = line[(colon + 1)..].Split(' ', '\t', StringSplitOptions.RemoveEmptyEntries);
            if (flags.Contains("vmx"))
            {
                return "vmx";
            }

            if (flags.Contains("svm"))
            {
                return "svm";
            }
        }

        return null;
    }

    private static string? OpenProblem(string devicePath)
    {
        if (!File.Exists(devicePath) && !Directory.Exists(devicePath))
        {
            return $"{devicePath} does not exist (no KVM module loaded, or none exposed to this machine)";
        }

        try
        {
            using var device = new FileStream(devicePath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return $"{devicePath} cannot be opened read-write (add the user to group kvm)";
        }
        catch (IOException e)
        {
            return $"{devicePath} cannot be opened read-write ({e.Message})";
        }
    }
}
