namespace Outpost.Disk.Install;

/// <summary>The installer refused before writing anything; the message names the disks and what to do.</summary>
public class InstallRefusedException(string message) : Exception(message);

/// <summary>The disk the installer booted from is not Outpost installer media (or predates the live ESP partition).</summary>
public sealed class NotAnInstallerDiskException(string message) : InstallRefusedException(message);

/// <summary>No disk other than the installer's own was offered, or every one offered was unusable.</summary>
public sealed class NoTargetDiskException(string message) : InstallRefusedException(message);

/// <summary>The target cannot hold the live partitions with the minimum persist.</summary>
public sealed class TargetDiskTooSmallException(string message, string targetDisk, long targetBytes, long neededBytes) : InstallRefusedException(message)
{
    public string TargetDisk { get; } = targetDisk;

    public long TargetBytes { get; } = targetBytes;

    public long NeededBytes { get; } = neededBytes;
}
