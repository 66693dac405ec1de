namespace Outpost.Image.Boot;

/// <summary>Where the UEFI boot manager comes from. Debian's systemd-boot-efi package provides it.</summary>
public static class BootloaderFiles
{
    public const string DefaultSystemdBootPath = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
    public const string RemovableMediaPath = "EFI/BOOT/BOOTX64.EFI";

    public static async Task<byte[]> ReadSystemdBootAsync(string? path, CancellationToken cancellationToken)
    {
        var file = path ?? DefaultSystemdBootPath;
        if (!File.Exists(file))
            throw new ImageBuildException($"the UEFI boot manager '{file}' does not exist. Install it (apt-get install systemd-boot-efi) or pass its path in the build options.");
        return await File.ReadAllBytesAsync(file, cancellationToken);
    }
}
