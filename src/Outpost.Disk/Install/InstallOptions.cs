namespace Outpost.Disk.Install;

/// <summary>Sizes the installer will not go below.</summary>
public sealed record InstallOptions
{
    public static InstallOptions Default { get; } = new();

    /// <summary>
    /// The smallest persist (P3) accepted: the agent's state, downloaded images and app volumes all live there, so a
    /// disk that leaves less would install and then fill up on the first app. 256 MiB by default.
    /// </summary>
    public long MinimumPersistBytes { get; init; } = 256 * 1024 * 1024;

    /// <summary>
    /// The smallest A/B slot. 0 (the default) makes IMGA and IMGB the size of the installer's rootfs partition
    /// (the image plus 1 MiB, as EVE sizes it); raise it to leave room for larger updates.
    /// </summary>
    public long MinimumSlotBytes { get; init; }
}
