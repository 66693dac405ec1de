namespace Outpost.Image.Disks;

/// <summary>
/// Partition sizes in MiB. EVE today uses a 2 GiB ESP and 10 GiB rootfs slots; these defaults are small so
/// tests and demos stay fast, and the device can grow P3 on first boot as EVE's storage-init does.
/// A rootfs size of 0 means "just big enough for rootfs.img".
/// </summary>
public sealed record DiskSizes
{
    public int EspMiB { get; init; } = 64;
    public int RootfsMiB { get; init; }
    public int ConfigMiB { get; init; } = 5;
    public int PersistMiB { get; init; } = 8;
    public int InventoryMiB { get; init; } = 8;
}
