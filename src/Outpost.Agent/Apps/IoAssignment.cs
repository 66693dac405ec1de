using System.Globalization;
using Org.Lfedge.Eve.Common;
using Outpost.Agent.Configuration;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Api.Configuration;

namespace Outpost.Agent.Apps;

/// <summary>What a VM is given of the host's hardware.</summary>
public sealed record AssignedIo(IReadOnlyList<string> SerialPorts, IReadOnlyList<QemuUsbDevice> UsbDevices, IReadOnlyList<string> PciDevices)
{
    public static AssignedIo None { get; } = new([], [], []);
}

/// <summary>
/// Resolves an app's adapters (EVE Adapter, naming a PhysicalIO assignment group) to host devices QEMU can pass
/// through: serial ports by device path, USB devices by vendor:product or bus and port, anything else by PCI address
/// with VFIO. A group goes to one app at a time; the device's management ports never go to an app. Checked against
/// the host (paths under <see cref="HostRoot"/>, so tests give it a fake /dev and /sys tree).
/// </summary>
public sealed class IoAssignment(string hostRoot = "/")
{
    public string HostRoot { get; } = hostRoot;

    /// <param name="owners">Assignment groups already held by other apps, with the holder's display name.</param>
    /// <exception cref="WorkloadSpecException">An adapter names nothing, is taken, is the management port, or its device is missing or unusable.</exception>
    public AssignedIo Resolve(AppSpec app, IReadOnlyCollection<PhysicalIoSpec> hardware, IReadOnlyDictionary<string, string> owners)
    {
        if (app.Vm.Adapters.Count == 0)
        {
            return AssignedIo.None;
        }

        var serials = new List<string>();
        var usb = new List<QemuUsbDevice>();
        var pci = new List<string>();
        foreach (var adapter in app.Vm.Adapters.DistinctBy(a => a.Name))
        {
            var members = hardware.Where(h => h.AssignGroup == adapter.Name).ToList();
            if (members.Count == 0)
            {
                var known = string.Join(", ", hardware.Select(h => h.AssignGroup).Where(g => g.Length > 0).Distinct().Order(StringComparer.Ordinal));
                throw new WorkloadSpecException(
                    $"Adapter '{adapter.Name}' names no assignment group of this device's I/O (deviceIoList); {(known.Length > 0 ? "it has: " + known : "it lists none")}.");
            }

            if (owners.TryGetValue(adapter.Name, out var owner))
            {
                throw new WorkloadSpecException(
                    $"Adapter '{adapter.Name}' is already assigned to app {owner}; a device's I/O goes to one app at a time. Stop or delete {owner}, or give this app another adapter.");
            }

            foreach (var member in members)
            {
                if (member.Usage is PhyIoMemberUsage.PhyIoUsageMgmtOnly or PhyIoMemberUsage.PhyIoUsageMgmtAndApps)
                {
                    throw new WorkloadSpecException(
                        $"Adapter '{adapter.Name}' includes {member.Label}, which this device uses to reach its controller; it cannot be given to an app.");
                }

                if (member.Usage == PhyIoMemberUsage.PhyIoUsageDisabled)
                {
                    throw new WorkloadSpecException($"Adapter '{adapter.Name}' includes {member.Label}, which the device's config disables.");
                }

                switch (member.Type)
                {
                    case PhyIoType.PhyIoCom:
                        serials.Add(SerialPort(adapter, member));
                        break;
                    case PhyIoType.PhyIoUsb or PhyIoType.PhyIoUsbdevice when member.Address("pcilong") is null:
                        usb.Add(UsbDevice(adapter, member));
                        break;
                    default:
                        pci.Add(PciDevice(adapter, member));
                        break;
                }
            }
        }

        return new AssignedIo(serials, usb, pci);
    }

    private string SerialPort(AppAdapter adapter, PhysicalIoSpec member)
    {
        var path = member.Address("serial")
            ?? throw new WorkloadSpecException($"Adapter '{adapter.Name}': serial port {member.Label} has no 'serial' address (a device path such as /dev/ttyS1).");
        if (!path.StartsWith("/dev/", StringComparison.Ordinal) || path.Contains("/../", StringComparison.Ordinal) || path.EndsWith("/..", StringComparison.Ordinal))
        {
            throw new WorkloadSpecException($"Adapter '{adapter.Name}': serial port {member.Label} is '{path}', which is not a device path under /dev.");
        }

        // Whether it is a tty QEMU finds out itself, and its refusal is what the app's error then says.
        var onHost = Host(path);
        if (!File.Exists(onHost))
        {
            throw new WorkloadSpecException($"Adapter '{adapter.Name}': serial port {member.Label} is {path}, which does not exist on this device.");
        }

        return onHost;
    }

    private static QemuUsbDevice UsbDevice(AppAdapter adapter, PhysicalIoSpec member)
    {
        if (member.Address("usbproduct") is { } product)
        {
            var match = HostDeviceAddresses.UsbProduct().Match(product);
            if (!match.Success)
            {
                throw new WorkloadSpecException($"Adapter '{adapter.Name}': usbproduct '{product}' of {member.Label} is not VENDOR:PRODUCT in hex (e.g. 0403:6001).");
            }

            return new QemuUsbDevice(match.Groups[1].Value.ToLowerInvariant(), match.Groups[2].Value.ToLowerInvariant());
        }

        if (member.Address("usbaddr") is { } address)
        {
            var match = HostDeviceAddresses.UsbAddress().Match(address);
            if (!match.Success)
            {
                throw new WorkloadSpecException($"Adapter '{adapter.Name}': usbaddr '{address}' of {member.Label} is not BUS:PORT (e.g. 1:2 or 1:2.3).");
            }

            return new QemuUsbDevice(HostBus: int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), HostPort: match.Groups[2].Value);
        }

        throw new WorkloadSpecException($"Adapter '{adapter.Name}': USB device {member.Label} has neither a usbproduct nor a usbaddr address.");
    }

    private string PciDevice(AppAdapter adapter, PhysicalIoSpec member)
    {
        var address = member.Address("pcilong")
            ?? throw new WorkloadSpecException($"Adapter '{adapter.Name}': {member.Label} ({member.Type}) has no 'pcilong' address, and only serial ports and USB devices pass through without one.");
        if (!HostDeviceAddresses.PciAddress().IsMatch(address))
        {
            throw new WorkloadSpecException($"Adapter '{adapter.Name}': pcilong '{address}' of {member.Label} is not a PCI address such as 0000:03:00.0.");
        }

        var device = Host($"/sys/bus/pci/devices/{address}");
        if (!Directory.Exists(device))
        {
            throw new WorkloadSpecException($"Adapter '{adapter.Name}': there is no PCI device {address} on this device.");
        }

        if (!Directory.Exists(Path.Combine(device, "iommu_group")) && !File.Exists(Path.Combine(device, "iommu_group")))
        {
            throw new WorkloadSpecException(
                $"Adapter '{adapter.Name}': PCI device {address} is in no IOMMU group, so VFIO cannot pass it through; enable the IOMMU (intel_iommu=on or amd_iommu=on, and VT-d/AMD-Vi in the firmware).");
        }

        return address;
    }

    private string Host(string absolutePath) => Path.Combine(HostRoot, absolutePath.TrimStart('/'));
}
