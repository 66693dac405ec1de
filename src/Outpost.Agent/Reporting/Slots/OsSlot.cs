namespace Outpost.Agent.Reporting.Slots;

/// <summary>One A/B rootfs slot (IMGA or IMGB) of the disk the device booted from.</summary>
/// <param name="Device">The partition's device (<c>/dev/vda2</c>), null when sysfs does not list it.</param>
/// <param name="State">EVE's name of its GPT A/B state ("active", "updating", "inprogress", "unused"); null when the GPT could not be read or holds a combination EVE never writes.</param>
/// <param name="Booted">True for the slot the kernel's root came from.</param>
public sealed record OsSlot(string Label, string? Device, string? State, bool Booted);

/// <summary>The slots, the booted one first as EVE orders swList, and why anything could not be learned.</summary>
public sealed record OsSlots(IReadOnlyList<OsSlot> Slots, string? Problem);
