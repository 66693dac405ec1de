using System.Buffers.Binary;
using System.Text;

namespace Outpost.Disk.Fat;

/// <summary>One file or directory found on a FAT volume.</summary>
/// <param name="Path">Slash-separated path from the root, using long names.</param>
public sealed record FatEntryInfo(string Path, bool IsDirectory, long Length, uint FirstCluster);

/// <summary>
/// A minimal read-only FAT12/16/32 reader for inspecting images (listing with long names, reading
/// files). It trusts the volume's structure only as far as needed and is not a repair tool.
/// </summary>
public sealed class FatVolumeReader
{
    private readonly Stream _volume;
    private readonly FatType _type;
    private readonly int _clusterSize;
    private readonly long _fatOffset;
    private readonly long _rootOffset;
    private readonly int _rootEntries;
    private readonly uint _rootCluster;
    private readonly long _dataOffset;

    private FatVolumeReader(Stream volume)
    {
        _volume = volume;
        var boot = ReadAt(0, 512);
        int sectorSize = BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(11));
        if (boot[510] != 0x55 || boot[511] != 0xAA || sectorSize is not (512 or 1024 or 2048 or 4096) || boot[13] == 0)
        {
            throw new FatLayoutException("This is not a FAT volume: the boot sector signature or BPB is missing.");
        }
        _clusterSize = boot[13] * sectorSize;
        int reserved = BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(14));
        _rootEntries = BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(17));
        long total = BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(19)) is var small and > 0 ? small : BinaryPrimitives.ReadUInt32LittleEndian(boot.AsSpan(32));
        long fatSectors = BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(22)) is var fat16 and > 0 ? fat16 : BinaryPrimitives.ReadUInt32LittleEndian(boot.AsSpan(36));
        long rootSectors = (_rootEntries * 32L + sectorSize - 1) / sectorSize;
        _fatOffset = (long)reserved * sectorSize;
        _rootOffset = _fatOffset + boot[16] * fatSectors * sectorSize;
        _dataOffset = _rootOffset + rootSectors * sectorSize;
        long clusters = (total * sectorSize - _dataOffset) / _clusterSize;
        _type = _rootEntries == 0 ? FatType.Fat32 : clusters < 4085 ? FatType.Fat12 : FatType.Fat16;
        _rootCluster = _type == FatType.Fat32 ? BinaryPrimitives.ReadUInt32LittleEndian(boot.AsSpan(44)) : 0;
        Label = Encoding.ASCII.GetString(boot, _type == FatType.Fat32 ? 71 : 43, 11).TrimEnd();
    }

    /// <summary>FAT type, derived from the cluster count as the specification says.</summary>
    public FatType Type => _type;

    /// <summary>Label from the boot sector.</summary>
    public string Label { get; }

    /// <summary>Opens the volume that starts at position 0 of <paramref name="volume"/>.</summary>
    public static FatVolumeReader Open(Stream volume) => new(volume);

    /// <summary>Every file and directory, depth-first, in directory order.</summary>
    public IReadOnlyList<FatEntryInfo> ListAll()
    {
        var found = new List<FatEntryInfo>();
        Walk(ReadDirectory(_rootCluster), "", found, depth: 0);
        return found;
    }

    /// <summary>Reads a whole file by path (long names, case-insensitive).</summary>
    public byte[] ReadFile(string path)
    {
        var entry = ListAll().FirstOrDefault(e => !e.IsDirectory && string.Equals(e.Path, path.Trim('/'), StringComparison.OrdinalIgnoreCase))
            ?? throw new FileNotFoundException($"'{path}' is not on this FAT volume.", path);
        var content = ReadChain(entry.FirstCluster);
        return content.AsSpan(0, (int)entry.Length).ToArray();
    }

    private void Walk(byte[] directory, string prefix, List<FatEntryInfo> found, int depth)
    {
        if (depth > 64)
        {
            throw new FatLayoutException("Directories nest deeper than 64 levels; the volume is probably damaged (a directory loop).");
        }
        var longName = new StringBuilder();
        for (int offset = 0; offset + 32 <= directory.Length; offset += 32)
        {
            var e = directory.AsSpan(offset, 32);
            if (e[0] == 0)
            {
                break;
            }
            if (e[0] == 0xE5)
            {
                longName.Clear();
                continue;
            }
            if (e[11] == 0x0F)
            {
                if ((e[0] & 0x40) != 0)
                {
                    longName.Clear();
                }
                longName.Insert(0, LongNameFragment(e));
                continue;
            }
            string shortName = ShortName(e);
            string name = longName.Length > 0 ? longName.ToString() : shortName;
            longName.Clear();
            if ((e[11] & 0x08) != 0 || shortName is "." or "..")
            {
                continue;
            }
            uint cluster = (uint)(BinaryPrimitives.ReadUInt16LittleEndian(e[20..]) << 16) | BinaryPrimitives.ReadUInt16LittleEndian(e[26..]);
            bool isDirectory = (e[11] & 0x10) != 0;
            string path = prefix + name;
            found.Add(new FatEntryInfo(path, isDirectory, isDirectory ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(e[28..]), cluster));
            if (isDirectory && cluster >= 2)
            {
                Walk(ReadChain(cluster), path + "/", found, depth + 1);
            }
        }
    }

    private static string LongNameFragment(ReadOnlySpan<byte> e)
    {
        var units = new List<char>();
        foreach (var (start, count) in new[] { (1, 5), (14, 6), (28, 2) })
        {
            for (int i = 0; i < count; i++)
            {
                char c = (char)BinaryPrimitives.ReadUInt16LittleEndian(e[(start + i * 2)..]);
                if (c is '\0' or '\uffff')
                {
                    return new string([.. units]);
                }
                units.Add(c);
            }
        }
        return new string([.. units]);
    }

    private static string ShortName(ReadOnlySpan<byte> e)
    {
        string stem = Encoding.ASCII.GetString(e[..8]).TrimEnd();
        string extension = Encoding.ASCII.GetString(e[8..11]).TrimEnd();
        return extension.Length == 0 ? stem : stem + "." + extension;
    }

    private byte[] ReadDirectory(uint cluster) =>
        cluster == 0 ? ReadAt(_rootOffset, _rootEntries * 32) : ReadChain(cluster);

    private byte[] ReadChain(uint first)
    {
        var content = new MemoryStream();
        var seen = new HashSet<uint>();
        for (uint cluster = first; cluster >= 2 && cluster < EndOfChainThreshold; cluster = Next(cluster))
        {
            if (!seen.Add(cluster))
            {
                throw new FatLayoutException($"The cluster chain starting at {first} loops; the volume is damaged.");
            }
            content.Write(ReadAt(_dataOffset + (cluster - 2L) * _clusterSize, _clusterSize));
        }
        return content.ToArray();
    }

    private uint EndOfChainThreshold => _type switch
    {
        FatType.Fat12 => 0xFF7,
        FatType.Fat16 => 0xFFF7,
        _ => 0x0FFFFFF7,
    };

    private uint Next(uint cluster)
    {
        switch (_type)
        {
            case FatType.Fat12:
                ushort pair = BinaryPrimitives.ReadUInt16LittleEndian(ReadAt(_fatOffset + cluster + cluster / 2, 2));
                return (cluster & 1) == 0 ? (uint)(pair & 0xFFF) : (uint)(pair >> 4);
            case FatType.Fat16:
                return BinaryPrimitives.ReadUInt16LittleEndian(ReadAt(_fatOffset + cluster * 2L, 2));
            default:
                return BinaryPrimitives.ReadUInt32LittleEndian(ReadAt(_fatOffset + cluster * 4L, 4)) & 0x0FFFFFFF;
        }
    }

    private byte[] ReadAt(long offset, int count)
    {
        var buffer = new byte[count];
        _volume.Position = offset;
        _volume.ReadExactly(buffer);
        return buffer;
    }
}
