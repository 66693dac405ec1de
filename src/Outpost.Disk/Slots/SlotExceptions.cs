namespace Outpost.Disk.Slots;

/// <summary>The disk is not an A/B Outpost disk, or is in a state an update cannot start from; the message says which.</summary>
public sealed class SlotLayoutException(string message) : Exception(message);
