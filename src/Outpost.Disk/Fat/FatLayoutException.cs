namespace Outpost.Disk.Fat;

/// <summary>
/// The requested FAT volume cannot be built: invalid or duplicate names, the content does not fit
/// the volume size, or a file's content length differs from what was declared.
/// </summary>
public sealed class FatLayoutException(string message) : Exception(message);
