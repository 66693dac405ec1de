using Outpost.Disk.Gpt;
using Outpost.Disk.Install;

namespace Outpost.Disk.Tests.Install;

/// <summary>
/// A small installer.raw-shaped disk file: EVE's installer partitions (efi, conf_win, INSTALLER, INVENTORY) and the
/// LIVE_EFI partition, each filled with its own seeded random bytes so every copy can be told apart.
/// </summary>
internal sealed class SyntheticInstallerDisk
{
    private const long MiB = PartitionPlan.MiB;

    private SyntheticInstallerDisk(string path, GptLayout layout, Dictionary<string, byte[]> contents)
    {
        Path = path;
        Layout = layout;
        Contents = contents;
    }

    public string Path { get; }

    public GptLayout Layout { get; }

    /// <summary>The full bytes of each partition by GPT name.</summary>
    public IReadOnlyDictionary<string, byte[]> Contents { get; }

    /// <summary>Live ESP 2 MiB, INSTALLER 3 MiB (so IMGA and IMGB get 3 MiB), CONFIG 1 MiB.</summary>
    public static SyntheticInstallerDisk Create(string path, bool withLiveEsp = true)
    {
        var specs = new List<PartitionSpec>
        {
            new(EvePartitions.EfiNumber, EvePartitions.EfiName, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid, 2 * MiB, EvePartitions.LegacyBiosBootableAttribute),
            new(EvePartitions.ConfigNumber, EvePartitions.ConfigName, EvePartitions.MicrosoftBasicDataType, Guid.NewGuid(), MiB, 0),
            new(EvePartitions.InstallerNumber, EvePartitions.InstallerName, EvePartitions.UsrType, EvePartitions.InstallerUniqueGuid, 3 * MiB, PartitionState.Active.Encode(0)),
            new(5, "INVENTORY", EvePartitions.MicrosoftBasicDataType, Guid.NewGuid(), MiB, 0),
        };
        if (withLiveEsp)
        {
            specs.Add(new(InstallerMedia.LiveEspNumber, InstallerMedia.LiveEspName, InstallerMedia.LiveEspType, InstallerMedia.LiveEspUniqueGuid, 2 * MiB, 0));
        }

        var layout = PartitionPlan.Layout(specs);
        var contents = new Dictionary<string, byte[]>();
        using (var disk = File.Create(path))
        {
            foreach (var partition in layout.Partitions)
            {
                var bytes = new byte[partition.ByteLength];
                new Random(partition.Number).NextBytes(bytes);
                disk.Position = partition.ByteOffset;
                disk.Write(bytes);
                contents[partition.Name] = bytes;
            }

            GptWriter.Write(disk, layout);
        }

        return new SyntheticInstallerDisk(path, layout, contents);
    }

    /// <summary>A target file of <paramref name="bytes"/> full of 0xEE, like a disk that held something else.</summary>
    public static string UsedDisk(string path, long bytes)
    {
        using var disk = File.Create(path);
        var garbage = new byte[MiB];
        Array.Fill(garbage, (byte)0xEE);
        for (long written = 0; written < bytes; written += garbage.Length)
        {
            disk.Write(garbage, 0, (int)Math.Min(garbage.Length, bytes - written));
        }

        return path;
    }
}
