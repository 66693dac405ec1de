using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Configuration;
using Outpost.Agent.Node;
using Outpost.Agent.Persistence;
using Outpost.Agent.Reporting.Proc;
using Outpost.Agent.Reporting.Slots;

namespace Outpost.Agent.Reporting;

/// <summary>
/// Builds the device's ZInfoMsg (ztype ZiDevice) from the host, the node's status, the storage condition, the config
/// items and, on an Outpost disk, the A/B slots of the disk it booted from.
/// </summary>
public sealed partial class DeviceInfoCollector(
    HostFacts host, string stateDirectory, string agentVersion, TimeProvider time, HostRoots? roots = null, ILogger? logger = null)
{
    private readonly HostRoots _roots = roots ?? HostRoots.Host;
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private string? _lastSlotProblem;

    /// <summary>How VM apps run here; reported as EVE's capabilities (hardware-assisted virtualization means KVM).</summary>
    public Workloads.Qemu.QemuAccelChoice? VmAccelerator { get; init; }

    /// <summary>
    /// The device report without a timestamp: callers compare its bytes to decide whether anything changed,
    /// then stamp it with <see cref="Stamp"/>.
    /// </summary>
    public ZInfoMsg Collect(string deviceUuid, ConfigItemSettings settings, NodeStatus? node, StorageCondition? storage, BaseOs.OsUpdateStatus? update = null)
    {
        var memory = ProcMeminfo.Read(_roots.Proc);
        var disk = FileSystemUsage.Of(stateDirectory);
        var mount = TryMount();
        var device = new ZInfoDevice
        {
            MachineArch = host.MachineArchitecture,
            CpuArch = host.MachineArchitecture,
            Platform = "linux",
            Ncpu = (uint)host.CpuCount,
            Memory = memory.TotalBytes / (1024 * 1024),
            Storage = disk.TotalBytes / (1024 * 1024),
            BootTime = Timestamp.FromDateTimeOffset(ProcStat.Read(_roots.Proc).BootTime),
            HostName = host.HostName,
            // minfo keeps EVE's meaning: the hardware as DMI names it. The OS and kernel are software and go into
            // the running slot's swList entry (shortVersion, longVersion) below, where EVE reports its own versions.
            Minfo = new ZInfoManufacturer
            {
                Manufacturer = host.Manufacturer ?? "",
                ProductName = host.ProductName ?? "",
                Version = host.ProductVersion ?? "",
                SerialNumber = host.ProductSerial ?? "",
            },
            ConfigItemStatus = ConfigItemStatus(settings),
            // Outpost does not read SMART data, so the power-cycle count is unknown (EVE's -1).
            PowerCycleCounter = -1,
            Capabilities = new Capabilities
            {
                HWAssistedVirtualization = VmAccelerator?.Accelerator == Workloads.Qemu.QemuAccelerator.Kvm,
                // VFIO needs the IOMMU's groups; without any there is nothing a PCI device could be assigned through.
                IOVirtualization = Directory.Exists("/sys/kernel/iommu_groups") && Directory.EnumerateDirectories("/sys/kernel/iommu_groups").Any(),
            },
        };
        if (node is not null)
        {
            device.State = node.State;
            device.LastBootReason = node.LastBootReason;
            device.LastRebootReason = node.LastRebootReason;
            device.RestartCounter = node.RestartCounter;
            device.RebootInprogress = node.RebootInProgress;
            device.RebootConfigCounter = node.RebootConfigCounter ?? 0;
            device.ShutdownConfigCounter = node.ShutdownConfigCounter ?? 0;
            if (node.LastRebootTime is { } rebootTime)
            {
                device.LastRebootTime = Timestamp.FromDateTimeOffset(rebootTime);
            }
        }

        if (storage is { DiskFull: true })
        {
            // EVE's reason for a device out of disk space; the agent keeps taking config so that space can be freed remotely.
            device.MaintenanceModeReasons.Add(MaintenanceModeReason.LowDiskSpace);
        }

        device.StorageList.Add(new ZInfoStorage
        {
            Device = mount?.Device ?? "",
            MountPath = mount?.MountPoint ?? stateDirectory,
            Total = disk.TotalBytes / (1024 * 1024),
            StorageLocation = true,
        });
        device.SwList.Add(SoftwareList.For(host, agentVersion, ReadSlots(), update));
        // ZInfoDevice has no field for the time of the last config; it is sent as deviceMetric.last_received_config.
        return new ZInfoMsg { Ztype = ZInfoTypes.ZiDevice, DevId = deviceUuid, Dinfo = device };
    }

    public ZInfoMsg Stamp(ZInfoMsg unstamped)
    {
        var stamped = unstamped.Clone();
        stamped.AtTimeStamp = Timestamp.FromDateTimeOffset(time.GetUtcNow());
        return stamped;
    }

    private static ZInfoConfigItemStatus ConfigItemStatus(ConfigItemSettings settings)
    {
        var status = new ZInfoConfigItemStatus();
        foreach (var (key, report) in settings.Accepted)
        {
            status.ConfigItems[key] = new ZInfoConfigItem { Value = report.Value, Error = report.Error ?? "" };
        }

        foreach (var (key, report) in settings.Unknown)
        {
            status.UnknownConfigItems[key] = new ZInfoConfigItem { Value = report.Value, Error = report.Error ?? "" };
        }

        return status;
    }

    /// <summary>The slots of the boot disk, or null off an Outpost disk. A problem is logged once, not every collection.</summary>
    private OsSlots? ReadSlots()
    {
        if (host.BootPartitionLabel is not { } label)
        {
            return null;
        }

        var slots = OsSlotReader.Read(_roots, label);
        if (slots.Problem != _lastSlotProblem)
        {
            _lastSlotProblem = slots.Problem;
            if (slots.Problem is not null)
            {
                LogSlotProblem(_logger, slots.Problem);
            }
        }

        return slots;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The device info reports only part of the A/B slots: {Problem}")]
    private static partial void LogSlotProblem(ILogger logger, string problem);

    private MountEntry? TryMount()
    {
        try
        {
            return ProcMounts.Containing(ProcMounts.Read(_roots.Proc), stateDirectory);
        }
        catch (IOException)
        {
            return null;
        }
    }
}
