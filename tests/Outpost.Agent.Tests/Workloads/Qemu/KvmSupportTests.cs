using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Tests.Workloads.Qemu;

/// <summary>The KVM rules on given cpuinfo text, with a plain file standing in for a /dev/kvm that opens read-write.</summary>
public sealed class KvmSupportTests : IDisposable
{
    private const string IntelWithVmx = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae vmx ssse3\nvmx flags\t: vnmi preemption_timer\n";
    private const string AmdWithSvm = "processor\t: 0\nflags\t\t: fpu vme svm lahf_lm\n";
    // kvm_pvm: /dev/kvm is there, but the guest CPU shows no virtualization flag (only the "vmx flags" key line).
    private const string Paravirtual = "processor\t: 0\nflags\t\t: fpu vme de pse hypervisor svm_lock_not_svm\nvmx flags\t: vmx svm\n";

    private readonly TempDirectory _temp = new();

    private string OpenableDevice()
    {
        var path = System.IO.Path.Combine(_temp.Path, "kvm");
        File.WriteAllBytes(path, []);
        return path;
    }

    [Theory]
    [InlineData(IntelWithVmx, "vmx")]
    [InlineData(AmdWithSvm, "svm")]
    public void A_device_that_opens_and_a_cpu_with_vmx_or_svm_is_usable(string cpuinfo, string flag)
    {
        var probe = KvmSupport.Probe(cpuinfo, OpenableDevice());
        Assert.True(probe.Usable, probe.Reason);
        Assert.Contains(flag, probe.Reason);
    }

    [Fact]
    public void A_device_that_opens_on_a_cpu_without_vmx_or_svm_is_paravirtual_and_not_usable()
    {
        var probe = KvmSupport.Probe(Paravirtual, OpenableDevice());
        Assert.False(probe.Usable);
        Assert.Contains("neither vmx nor svm", probe.Reason);
    }

    [Fact]
    public void A_missing_device_is_not_usable_whatever_the_cpu()
    {
        var probe = KvmSupport.Probe(IntelWithVmx, System.IO.Path.Combine(_temp.Path, "absent"));
        Assert.False(probe.Usable);
        Assert.Contains("does not exist", probe.Reason);
    }

    [Fact]
    public void A_device_that_does_not_open_read_write_is_not_usable()
    {
        // A directory stands in for a device node the user may not open: opening it read-write fails for root too.
        var probe = KvmSupport.Probe(IntelWithVmx, _temp.Sub("kvm-dir"));
        Assert.False(probe.Usable);
        Assert.Contains("cannot be opened read-write", probe.Reason);
    }

    [Fact]
    public void Auto_picks_kvm_only_when_the_probe_says_usable_and_tcg_otherwise_with_its_reason()
    {
        var usable = new KvmProbe(true, "fine");
        var unusable = new KvmProbe(false, "/dev/kvm does not exist");

        Assert.Equal(new QemuAccelChoice(QemuAccelerator.Kvm, "fine"), KvmSupport.Choose(QemuAccelRequest.Auto, () => usable));
        Assert.Equal(new QemuAccelChoice(QemuAccelerator.Tcg, "/dev/kvm does not exist"), KvmSupport.Choose(QemuAccelRequest.Auto, () => unusable));
    }

    [Fact]
    public void An_explicit_choice_is_kept_and_tcg_does_not_even_probe()
    {
        Assert.Equal(QemuAccelerator.Tcg, KvmSupport.Choose(QemuAccelRequest.Tcg, () => throw new InvalidOperationException("must not probe")).Accelerator);
        var forced = KvmSupport.Choose(QemuAccelRequest.Kvm, () => new KvmProbe(false, "/dev/kvm opens but /proc/cpuinfo has neither vmx nor svm"));
        Assert.Equal(QemuAccelerator.Kvm, forced.Accelerator);
        Assert.Contains("although /dev/kvm opens", forced.Reason);
    }

    public void Dispose() => _temp.Dispose();
}
