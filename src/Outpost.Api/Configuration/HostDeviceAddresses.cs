using System.Text.RegularExpressions;

namespace Outpost.Api.Configuration;

/// <summary>
/// The forms a host device's address takes in EVE's PhysicalIO phyaddrs, checked the same way by the controller (before
/// it sends them) and the agent (before QEMU is given them): anything else could be read by QEMU as more options.
/// </summary>
public static partial class HostDeviceAddresses
{
    /// <summary>usbproduct: VENDOR:PRODUCT in hex (groups 1 and 2), e.g. 0403:6001.</summary>
    [GeneratedRegex("^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$")]
    public static partial Regex UsbProduct();

    /// <summary>usbaddr: BUS:PORT (groups 1 and 2), the port a dotted path of up to five hubs, e.g. 1:2.3.</summary>
    [GeneratedRegex(@"^([1-9][0-9]{0,2}):([1-9][0-9]?(?:\.[1-9][0-9]?){0,4})$")]
    public static partial Regex UsbAddress();

    /// <summary>pcilong: a full PCI address, e.g. 0000:03:00.0.</summary>
    [GeneratedRegex("^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$")]
    public static partial Regex PciAddress();
}
