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
    private readonly FatVolumeLayout _layout;
    private FatTable? _fat;

    private FatVolumeReader(Stream volume)
    {
        _volume = volume;
        _layout = FatVolumeLayout.Parse(ReadAt(0, FatVolumeLayout.BootSectorSize), volumeLength: null);
    }

    /// <summary>FAT type, derived from the cluster count as the specification says.</summary>
    public FatType Type => _layout.Type;

    /// <summary>Label from the boot sector.</summary>
    public string Label => _layout.Label;

    /// <summary>Opens the volume that starts at position 0 of <paramref name="volume"/>.</summary>
    public static FatVolumeReader Open(Stream volume) => new(volume);

    /// <summary>Every file and directory, depth-first, in directory order.</summary>
    public IReadOnlyList<FatEntryInfo> ListAll()
    {
        var found = new List<FatEntryInfo>();
        Walk(ReadDirectory(_layout.RootCluster), "", found, depth: 0);
        return found;
    }

    /// <summary>Reads a whole file by path (long names, case-insensitive).</summary>
    public byte[] ReadFile(string path)
    {
        var entry = ListAll().FirstOrDefault(e => !e.IsDirectory && string.Equals(e.Path, path.Trim('/'), StringComparison.OrdinalIgnoreCase))
            ?? throw new FileNotFoundException($"'{path}' is not on this FAT volume.", path);
        var content = ReadChain(entry.FirstCluster);
        if (content.Length < entry.Length)
        {
            throw new FatLayoutException($"'{path}' is {entry.Length} bytes but its cluster chain holds only {content.Length}; the volume is damaged.");
        }
        return content.AsSpan(0, (int)entry.Length).ToArray();
    }

    private void Walk(byte[] directory, string prefix, List<FatEntryInfo> found, int depth)
    {
        if (depth > 64)
        {
            throw new FatLayoutException("Directories nest deeper than 64 levels; the volume is probably damaged (a directory loop).");
        }
        foreach (var record in FatDirectoryParser.Parse(directory).Records.Where(r => r.IsNamed))
        {
            string path = prefix + record.Name;
            found.Add(new FatEntryInfo(path, record.IsDirectory, record.IsDirectory ? 0 : record.Size, record.FirstCluster));
            if (record.IsDirectory && record.FirstCluster >= 2)
            {
                Walk(ReadChain(record.FirstCluster), path + "/", found, depth + 1);
            }
        }
    }

    private byte[] ReadDirectory(uint cluster) =>
        cluster == 0 ? ReadAt(_layout.RootOffset, _layout.RootEntries * 32) : ReadChain(cluster);

    private byte[] ReadChain(uint first)
    {
        var content = new MemoryStream();
        var seen = new HashSet<uint>();
        for (uint cluster = first; cluster >= 2 && cluster < _layout.EndOfChainMinimum; cluster = Next(cluster))
        {
            if (cluster > _layout.MaxCluster)
            {
                throw new FatLayoutException($"The cluster chain starting at {first} reaches cluster {cluster}, past the volume's last cluster {_layout.MaxCluster}; the volume is damaged.");
            }
            if (!seen.Add(cluster))
            {
                throw new FatLayoutException($"The cluster chain starting at {first} loops; the volume is damaged.");
            }
            content.Write(ReadAt(_layout.ClusterOffset(cluster), _layout.ClusterSize));
        }
        return content.ToArray();
    }

    /// <summary>The next cluster of a chain; the caller has checked <paramref name="cluster"/> is in range.</summary>
    private uint Next(uint cluster)
    {
        _fat ??= FatTable.Wrap(_layout.Type, ReadAt(_layout.FatOffset, _layout.UsedFatBytes));
        return _fat.Get(cluster);
    }

    private byte[] ReadAt(long offset, int count)
    {
        var buffer = new byte[count];
        _volume.Position = offset;
        _volume.ReadExactly(buffer);
        return buffer;
    }
}
