using Org.Lfedge.Eve.Common;
using Org.Lfedge.Eve.Config;
using Outpost.Agent.Bus;

namespace Outpost.Agent.Configuration;

/// <summary>
/// One piece of the device's hardware as the controller describes it (EVE PhysicalIO in deviceIoList): what it is, how
/// the host addresses it (phyaddrs: serial, usbaddr, usbproduct, pcilong, ifname...) and the assignment group an app's
/// adapter names to get it.
/// </summary>
public sealed record PhysicalIoSpec(
    string Label,
    PhyIoType Type,
    string LogicalLabel,
    string AssignGroup,
    PhyIoMemberUsage Usage,
    ValueList<KeyValuePair<string, string>> Addresses) : IKeyed
{
    public string Key => Label;

    /// <summary>A phyaddrs value by key, compared without case as EVE does; null when absent or empty.</summary>
    public string? Address(string key) =>
        Addresses.FirstOrDefault(a => string.Equals(a.Key, key, StringComparison.OrdinalIgnoreCase)).Value is { Length: > 0 } value ? value : null;

    internal static PhysicalIoSpec From(PhysicalIO io) => new(
        io.Phylabel,
        io.Ptype,
        io.Logicallabel,
        io.Assigngrp,
        io.Usage,
        io.Phyaddrs.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => KeyValuePair.Create(a.Key, a.Value)).ToValueList());
}

/// <summary>An app's directly assigned hardware (EVE Adapter): the PhysicalIO assignment group it names.</summary>
public sealed record AppAdapter(PhyIoType Type, string Name);
