using System.Security.Cryptography;
using Outpost.Disk.Fat;

namespace Outpost.Image.Disks;

/// <summary>
/// The FAT volumes of Outpost disks (CONFIG, ESP, inventory), written the one way both the image builder and
/// <see cref="ConfigPartitionWriter"/> write them, so a CONFIG replaced later matches one built in.
/// </summary>
public static class FatVolume
{
    /// <summary>Writes the volume sequentially from <paramref name="output"/>'s position, exactly <paramref name="sizeBytes"/> long.</summary>
    /// <exception cref="FatLayoutException">The tree does not fit (nothing is written then) or a name is invalid.</exception>
    public static Task WriteAsync(Stream output, FatDirectory root, long sizeBytes, string label, DateTime timestamp, CancellationToken cancellationToken)
    {
        // The volume id is derived from the label and time, not random, so rebuilds match byte for byte.
        var volumeId = BitConverter.ToUInt32(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{label}/{timestamp:O}")), 0);
        return FatWriter.WriteAsync(output, root, new FatVolumeOptions(sizeBytes, label, timestamp, volumeId), cancellationToken);
    }
}
