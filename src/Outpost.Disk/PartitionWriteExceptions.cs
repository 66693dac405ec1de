namespace Outpost.Disk;

/// <summary>The content is larger than the partition; nothing was written.</summary>
public sealed class PartitionTooSmallException(string message) : Exception(message);

/// <summary>
/// The partition was written but reading it back gave different bytes (failing medium, or
/// something else wrote to the device at the same time). The partition must not be booted.
/// </summary>
public sealed class PartitionVerificationException(string message) : Exception(message);
