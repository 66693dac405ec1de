using Outpost.Agent.Workloads.Qemu;
using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Workloads;

/// <summary>
/// The workload drivers this host can offer, chosen once at start-up: runc for containers when it is installed and
/// the agent is root, QEMU for VMs when it is installed (KVM or TCG, see <see cref="KvmSupport"/>). With neither,
/// <see cref="Driver"/> is null and every app reports <see cref="UnavailableReason"/>.
/// </summary>
public sealed class WorkloadRuntime(IWorkloadDriver? driver, string? unavailableReason)
{
    public IWorkloadDriver? Driver { get; } = driver;

    public string? UnavailableReason { get; } = unavailableReason;

    /// <summary>How VMs run here (KVM or TCG, and why), for device info; null when VMs cannot run.</summary>
    public QemuAccelChoice? VmAccelerator => (Driver as HostWorkloadDriver)?.Vms?.Accelerator;

    /// <param name="containerVmKit">Where the kernel and initrd of container VMs are; null: the Outpost OS location.</param>
    public static WorkloadRuntime Detect(
        string stateDirectory, string? runcPath, string bootId, QemuAccelRequest accelerator = QemuAccelRequest.Auto, string? containerVmKit = null)
    {
        IWorkloadDriver? containers = null;
        string? containersUnavailable = null;
        try
        {
            containers = new RuncDriver(new RuncDriverOptions(Path.Combine(stateDirectory, "workloads"))
            {
                RuncPath = runcPath ?? "runc",
                BootId = bootId,
            });
        }
        catch (WorkloadRuntimeException e)
        {
            containersUnavailable = e.Message;
        }

        QemuDriver? vms = null;
        string? vmsUnavailable = null;
        try
        {
            var options = new QemuDriverOptions(stateDirectory, KvmSupport.Choose(accelerator, KvmSupport.Probe)) { BootId = bootId };
            vms = new QemuDriver(containerVmKit is null ? options : options with { ContainerVmKitDirectory = containerVmKit });
        }
        catch (WorkloadRuntimeException e)
        {
            vmsUnavailable = e.Message;
        }

        return containers is null && vms is null
            ? new WorkloadRuntime(null, containersUnavailable)
            : new WorkloadRuntime(new HostWorkloadDriver(containers, containersUnavailable, vms, vmsUnavailable), null);
    }
}
