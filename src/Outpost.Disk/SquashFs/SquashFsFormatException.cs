namespace Outpost.Disk.SquashFs;

/// <summary>The entries cannot form a squashfs image (bad or duplicate paths, missing content, invalid options).</summary>
public sealed class SquashFsFormatException(string message) : Exception(message);
