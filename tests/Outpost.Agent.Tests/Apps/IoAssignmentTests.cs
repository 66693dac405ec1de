using Org.Lfedge.Eve.Common;
using Outpost.Agent.Apps;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Tests.Apps;

/// <summary>
/// VM adapters (EVE Adapter → PhysicalIO assignment group) resolved against a fake host tree (/dev, /sys): these
/// machines have no spare UART, USB controller or VFIO, so what needs hardware is checked through what QEMU is told.
/// </summary>
public sealed class IoAssignmentTests : IDisposable
{
    private static readonly Dictionary<string, string> NoOwners = [];

    private readonly TempDirectory _host = new();
    private readonly IoAssignment _io;

    public IoAssignmentTests()
    {
        Directory.CreateDirectory(Path.Combine(_host.Path, "dev"));
        File.WriteAllText(Path.Combine(_host.Path, "dev", "ttyS1"), "");
        var gpu = Path.Combine(_host.Path, "sys", "bus", "pci", "devices", "0000:03:00.0");
        Directory.CreateDirectory(Path.Combine(gpu, "iommu_group"));
        Directory.CreateDirectory(Path.Combine(_host.Path, "sys", "bus", "pci", "devices", "0000:04:00.0"));
        _io = new IoAssignment(_host.Path);
    }

    public void Dispose() => _host.Dispose();

    [Fact]
    public void A_serial_port_usb_devices_and_a_pci_device_become_what_qemu_passes_through()
    {
        var hardware = new[]
        {
            Io("COM2", PhyIoType.PhyIoCom, "COM2", ("Serial", "/dev/ttyS1")),
            Io("USB-1", PhyIoType.PhyIoUsb, "usb-sensor", ("usbproduct", "0403:6001")),
            Io("USB-2", PhyIoType.PhyIoUsbdevice, "usb-port", ("UsbAddr", "1:2.3")),
            Io("GPU", PhyIoType.PhyIoOther, "gpu", ("pcilong", "0000:03:00.0")),
        };

        var assigned = _io.Resolve(App("vm", "COM2", "usb-sensor", "usb-port", "gpu"), hardware, NoOwners);

        Assert.Equal([Path.Combine(_host.Path, "dev", "ttyS1")], assigned.SerialPorts);
        Assert.Equal([new QemuUsbDevice("0403", "6001"), new QemuUsbDevice(HostBus: 1, HostPort: "2.3")], assigned.UsbDevices);
        Assert.Equal(["0000:03:00.0"], assigned.PciDevices);
    }

    [Fact]
    public void An_app_without_adapters_gets_nothing_and_the_host_is_not_looked_at()
    {
        Assert.Same(AssignedIo.None, new IoAssignment("/nonexistent").Resolve(App("vm"), [], NoOwners));
    }

    [Fact]
    public void An_adapter_naming_no_group_is_refused_listing_the_groups_the_device_has()
    {
        var e = Assert.Throws<WorkloadSpecException>(() =>
            _io.Resolve(App("vm", "COM9"), [Io("COM2", PhyIoType.PhyIoCom, "COM2", ("serial", "/dev/ttyS1"))], NoOwners));
        Assert.Contains("Adapter 'COM9' names no assignment group", e.Message);
        Assert.Contains("it has: COM2", e.Message);
    }

    [Fact]
    public void A_group_another_app_holds_is_refused_naming_that_app()
    {
        var e = Assert.Throws<WorkloadSpecException>(() =>
            _io.Resolve(App("second", "COM2"), [Io("COM2", PhyIoType.PhyIoCom, "COM2", ("serial", "/dev/ttyS1"))], new Dictionary<string, string> { ["COM2"] = "first" }));
        Assert.Contains("already assigned to app first", e.Message);
    }

    [Theory]
    [InlineData(PhyIoMemberUsage.PhyIoUsageMgmtOnly, "reach its controller")]
    [InlineData(PhyIoMemberUsage.PhyIoUsageMgmtAndApps, "reach its controller")]
    [InlineData(PhyIoMemberUsage.PhyIoUsageDisabled, "disables")]
    public void The_management_port_and_a_disabled_device_are_never_given_to_an_app(PhyIoMemberUsage usage, string reason)
    {
        var port = Io("eth0", PhyIoType.PhyIoNetEth, "eth0", ("ifname", "eth0"), ("pcilong", "0000:03:00.0")) with { Usage = usage };
        var e = Assert.Throws<WorkloadSpecException>(() => _io.Resolve(App("vm", "eth0"), [port], NoOwners));
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("/dev/ttyS7", "does not exist on this device")]
    [InlineData("/etc/passwd", "not a device path under /dev")]
    [InlineData("/dev/../etc/passwd", "not a device path under /dev")]
    [InlineData("ttyS1", "not a device path under /dev")]
    public void A_serial_port_that_is_missing_or_outside_dev_is_refused(string path, string reason)
    {
        var e = Assert.Throws<WorkloadSpecException>(() =>
            _io.Resolve(App("vm", "COM2"), [Io("COM2", PhyIoType.PhyIoCom, "COM2", ("serial", path))], NoOwners));
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("usbproduct", "403:6001", "VENDOR:PRODUCT")]
    [InlineData("usbproduct", "0403-6001", "VENDOR:PRODUCT")]
    [InlineData("usbaddr", "0:1", "BUS:PORT")]
    [InlineData("usbaddr", "1:2,hostbus=3", "BUS:PORT")]
    [InlineData("irq", "5", "neither a usbproduct nor a usbaddr")]
    public void A_usb_address_qemu_could_not_match_or_misread_is_refused(string key, string value, string reason)
    {
        var e = Assert.Throws<WorkloadSpecException>(() =>
            _io.Resolve(App("vm", "usb"), [Io("USB", PhyIoType.PhyIoUsb, "usb", (key, value))], NoOwners));
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("0000:03:00.0,x-vga=on", "not a PCI address")]
    [InlineData("0000:09:00.0", "no PCI device 0000:09:00.0")]
    [InlineData("0000:04:00.0", "in no IOMMU group")]
    public void A_pci_device_that_is_malformed_absent_or_without_an_iommu_group_is_refused(string address, string reason)
    {
        var e = Assert.Throws<WorkloadSpecException>(() =>
            _io.Resolve(App("vm", "nic"), [Io("NIC", PhyIoType.PhyIoNetEth, "nic", ("pcilong", address))], NoOwners));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void A_group_of_several_members_gives_all_of_them()
    {
        var hardware = new[]
        {
            Io("USB-A", PhyIoType.PhyIoUsb, "usb-all", ("usbaddr", "1:1")),
            Io("USB-B", PhyIoType.PhyIoUsb, "usb-all", ("usbaddr", "1:2")),
        };
        Assert.Equal(2, _io.Resolve(App("vm", "usb-all"), hardware, NoOwners).UsbDevices.Count);
    }

    private static PhysicalIoSpec Io(string label, PhyIoType type, string group, params (string Key, string Value)[] addresses) =>
        new(label, type, label, group, PhyIoMemberUsage.PhyIoUsageDedicated, addresses.Select(a => KeyValuePair.Create(a.Key, a.Value)).ToValueList());

    private static AppSpec App(string name, params string[] adapters) =>
        new(Guid.NewGuid().ToString(), "1", name, 256 * 1024, 1, true, ValueList<AppVolumeRef>.Empty, AppUserData.Empty, 0, 0, false)
        {
            Vm = AppVmConfig.Default with { Adapters = adapters.Select(a => new AppAdapter(PhyIoType.PhyIoOther, a)).ToValueList() },
        };
}
