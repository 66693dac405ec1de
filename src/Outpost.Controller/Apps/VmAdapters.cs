using System.Text.RegularExpressions;
using Org.Lfedge.Eve.Common;
using Org.Lfedge.Eve.Config;
using Outpost.Api.Configuration;

namespace Outpost.Controller.Apps;

/// <summary>One host device an operator passes to a VM, as EVE describes it: a PhysicalIO (its own assignment group) and the app's Adapter naming it.</summary>
internal sealed record VmAdapter(PhyIoType Type, string Group, string AddressKey, string Address)
{
    public PhysicalIO ToPhysicalIo() => new()
    {
        Ptype = Type,
        Phylabel = Group,
        Logicallabel = Group,
        Assigngrp = Group,
        Usage = PhyIoMemberUsage.PhyIoUsageDedicated,
        Phyaddrs = { [AddressKey] = Address },
    };

    public Adapter ToAdapter() => new() { Type = Type, Name = Group };
}

/// <summary>
/// Checks `--usb`, `--serial` and `--pci` before anything is sent, and puts them into the device's deviceIoList and the
/// app's adapters. The device checks them against its own hardware (whether the device exists, VFIO); the controller
/// refuses what is malformed and a device another app on the same device already has.
/// </summary>
internal static partial class VmAdapters
{
    public const int MaxAdapters = 16;

    public static IReadOnlyList<VmAdapter> From(VmSettings settings)
    {
        var adapters = new List<VmAdapter>();
        foreach (var usb in settings.Usb ?? [])
        {
            adapters.Add(HostDeviceAddresses.UsbProduct().Match(usb) is { Success: true } product
                ? new VmAdapter(PhyIoType.PhyIoUsbdevice, $"usb-{product.Groups[1].Value.ToLowerInvariant()}-{product.Groups[2].Value.ToLowerInvariant()}", "usbproduct", usb.ToLowerInvariant())
                : HostDeviceAddresses.UsbAddress().IsMatch(usb)
                    ? new VmAdapter(PhyIoType.PhyIoUsbdevice, "usb-" + usb.Replace(':', '-'), "usbaddr", usb)
                    : throw new AppRequestException($"--usb '{Shorten(usb)}' is neither VENDOR:PRODUCT in hex (e.g. 0403:6001, see lsusb) nor BUS:PORT (e.g. 1:2.3)."));
        }

        foreach (var serial in settings.Serial ?? [])
        {
            adapters.Add(SerialPath().IsMatch(serial) && !serial.Contains("/../", StringComparison.Ordinal)
                ? new VmAdapter(PhyIoType.PhyIoCom, "serial-" + serial["/dev/".Length..].Replace('/', '-'), "serial", serial)
                : throw new AppRequestException($"--serial '{Shorten(serial)}' is not a device path such as /dev/ttyS1 or /dev/ttyUSB0."));
        }

        foreach (var pci in settings.Pci ?? [])
        {
            adapters.Add(HostDeviceAddresses.PciAddress().IsMatch(pci)
                ? new VmAdapter(PhyIoType.PhyIoOther, "pci-" + pci.Replace(':', '-'), "pcilong", pci)
                : throw new AppRequestException($"--pci '{Shorten(pci)}' is not a PCI address such as 0000:03:00.0 (see lspci -D)."));
        }

        if (adapters.Count > MaxAdapters)
        {
            throw new AppRequestException($"A VM is given at most {MaxAdapters} host devices; this one asks for {adapters.Count}.");
        }

        var repeated = adapters.GroupBy(a => a.Group).FirstOrDefault(g => g.Count() > 1);
        return repeated is null ? adapters : throw new AppRequestException($"Host device {repeated.First().Address} is given twice.");
    }

    /// <summary>Adds the adapters to the config, refusing a device another app on this device already has.</summary>
    public static void Apply(IReadOnlyList<VmAdapter> adapters, EdgeDevConfig config, AppInstanceConfig app)
    {
        foreach (var adapter in adapters)
        {
            if (config.Apps.FirstOrDefault(a => a.Adapters.Any(x => x.Name == adapter.Group)) is { } holder)
            {
                throw new AppRequestException(
                    $"Host device {adapter.Address} is already assigned to app '{holder.Displayname}' on this device; a device goes to one app at a time. Delete that app or give this one another device.");
            }

            if (!config.DeviceIoList.Any(io => io.Assigngrp == adapter.Group))
            {
                config.DeviceIoList.Add(adapter.ToPhysicalIo());
            }

            app.Adapters.Add(adapter.ToAdapter());
        }
    }

    /// <summary>Removes the I/O entries a deleted app's deploy added, once no other app names them; entries set by hand stay.</summary>
    public static void Release(AppInstanceConfig deleted, EdgeDevConfig config)
    {
        foreach (var adapter in deleted.Adapters)
        {
            if (IsOurs(adapter.Name) && !config.Apps.Any(a => a.Adapters.Any(x => x.Name == adapter.Name)))
            {
                foreach (var io in config.DeviceIoList.Where(io => io.Assigngrp == adapter.Name).ToList())
                {
                    config.DeviceIoList.Remove(io);
                }
            }
        }
    }

    private static bool IsOurs(string group) =>
        group.StartsWith("usb-", StringComparison.Ordinal) || group.StartsWith("serial-", StringComparison.Ordinal) || group.StartsWith("pci-", StringComparison.Ordinal);

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "...";

    [GeneratedRegex("^/dev/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)?$")]
    private static partial Regex SerialPath();
}
