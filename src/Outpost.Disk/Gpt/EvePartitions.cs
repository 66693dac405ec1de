namespace Outpost.Disk.Gpt;

/// <summary>
/// EVE's fixed GPT conventions: partition numbers, names, type GUIDs and the fixed unique GUIDs
/// that make images reproducible. Other code should use these instead of literals.
/// </summary>
public static class EvePartitions
{
    /// <summary>EFI System Partition number.</summary>
    public const int EfiNumber = 1;
    /// <summary>First A/B rootfs slot.</summary>
    public const int ImgaNumber = 2;
    /// <summary>Second A/B rootfs slot.</summary>
    public const int ImgbNumber = 3;
    /// <summary>CONFIG (and conf_win on installer media).</summary>
    public const int ConfigNumber = 4;
    /// <summary>INSTALLER rootfs on installer media.</summary>
    public const int InstallerNumber = 6;
    /// <summary>Persist (P3); 9 so that 1-8 stay reserved for system partitions.</summary>
    public const int PersistNumber = 9;

    public const string EfiName = "EFI System";
    public const string ImgaName = "IMGA";
    public const string ImgbName = "IMGB";
    public const string ConfigName = "CONFIG";
    public const string InstallerName = "INSTALLER";
    public const string PersistName = "P3";

    /// <summary>EFI System Partition type (sgdisk code ef00).</summary>
    public static readonly Guid EfiSystemType = new("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
    /// <summary>CoreOS "usr" type used by IMGA, IMGB and INSTALLER; the only type gptprio considers.</summary>
    public static readonly Guid UsrType = new("5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6");
    /// <summary>EVE CONFIG partition type.</summary>
    public static readonly Guid ConfigType = new("13307e62-cd9c-4920-8f9b-91b45828b798");
    /// <summary>EVE persist (P3) partition type.</summary>
    public static readonly Guid PersistType = new("5f24425a-2dfa-11e8-a270-7b663faccc2c");
    /// <summary>Microsoft basic data, used for conf_win so desktop OSes can mount CONFIG.</summary>
    public static readonly Guid MicrosoftBasicDataType = new("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7");

    /// <summary>EVE's fixed disk GUID.</summary>
    public static readonly Guid DiskGuid = new("ad6871ee-31f9-4cf3-9e09-6f7a25c30050");
    public static readonly Guid EfiUniqueGuid = new("ad6871ee-31f9-4cf3-9e09-6f7a25c30051");
    public static readonly Guid ImgaUniqueGuid = new("ad6871ee-31f9-4cf3-9e09-6f7a25c30052");
    public static readonly Guid ImgbUniqueGuid = new("ad6871ee-31f9-4cf3-9e09-6f7a25c30053");
    public static readonly Guid ConfigUniqueGuid = new("ad6871ee-31f9-4cf3-9e09-6f7a25c30054");
    public static readonly Guid PersistUniqueGuid = new("ad6871ee-31f9-4cf3-9e09-6f7a25c30059");
    public static readonly Guid InstallerUniqueGuid = new("ad6871ee-31f9-4cf3-9e09-6f7a25c30060");

    /// <summary>UEFI attribute bit 2, "legacy BIOS bootable"; EVE sets it on the ESP.</summary>
    public const ulong LegacyBiosBootableAttribute = 1UL << 2;
}
