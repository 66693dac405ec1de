namespace Outpost.Disk.Fat;

/// <summary>
/// Where everything goes: clusters assigned depth-first in sorted name order (so the same tree
/// always gives the same bytes), the FAT chains, and the encoded directory contents.
/// </summary>
internal sealed class FatVolumePlan
{
    private readonly FatDirectory _root;
    private readonly FatGeometry _geometry;
    private readonly FatVolumeOptions _options;
    private readonly byte[] _label;
    private readonly Dictionary<FatNode, uint> _firstCluster = new(ReferenceEqualityComparer.Instance);
    private uint _nextCluster = 2;

    private FatVolumePlan(FatDirectory root, FatGeometry geometry, FatVolumeOptions options, byte[] label)
    {
        _root = root;
        _geometry = geometry;
        _options = options;
        _label = label;
        Table = new FatTable(geometry);
    }

    public FatTable Table { get; }

    /// <summary>Directory and file contents in cluster order; the data area is written by walking this list.</summary>
    public List<DataItem> DataItems { get; } = [];

    /// <summary>The fixed root directory region of FAT12/16 (empty for FAT32, whose root is a cluster chain).</summary>
    public byte[] FixedRoot { get; private set; } = [];

    public long UsedClusters => _nextCluster - 2;

    public uint NextFreeCluster => _nextCluster;

    public abstract record DataItem(long Clusters);
    public sealed record DirectoryItem(byte[] Content) : DataItem(Content.Length);
    public sealed record FileItem(FatFile File, long Clusters) : DataItem(Clusters);

    public static FatVolumePlan Create(FatDirectory root, FatGeometry geometry, FatVolumeOptions options, byte[] label)
    {
        var plan = new FatVolumePlan(root, geometry, options, label);
        plan.PlaceDirectory(root, parent: null);
        return plan;
    }

    private sealed record Entry(FatNode Node, byte[] ShortName, bool NeedsLongName);

    private void PlaceDirectory(FatDirectory directory, FatDirectory? parent)
    {
        bool isRoot = parent is null;
        bool fixedRoot = isRoot && _geometry.Type != FatType.Fat32;
        var entries = NameEntries(directory);
        int slots = (isRoot ? (HasLabel ? 1 : 0) : 2)
            + entries.Sum(e => 1 + (e.NeedsLongName ? FatDirectoryEncoder.LongEntryCount(e.Node.Name) : 0));
        long bytes = (long)slots * FatDirectoryEncoder.EntrySize;
        DirectoryItem? item = null;
        if (fixedRoot)
        {
            if (slots > _geometry.RootEntries)
            {
                throw new FatLayoutException($"The root directory needs {slots} entries but {_geometry.Type} has room for {_geometry.RootEntries}; move files into a subdirectory.");
            }
        }
        else
        {
            long clusters = Math.Max(1, (bytes + _geometry.ClusterSize - 1) / _geometry.ClusterSize);
            _firstCluster[directory] = Allocate(clusters);
            item = new DirectoryItem(new byte[clusters * _geometry.ClusterSize]);
            DataItems.Add(item);
        }

        foreach (var entry in entries)
        {
            switch (entry.Node)
            {
                case FatFile file when file.Length > 0:
                    long clusters = (file.Length + _geometry.ClusterSize - 1) / _geometry.ClusterSize;
                    _firstCluster[file] = Allocate(clusters);
                    DataItems.Add(new FileItem(file, clusters));
                    break;
                case FatDirectory child:
                    PlaceDirectory(child, directory);
                    break;
            }
        }

        // Children are placed now, so their first clusters are known.
        var content = item?.Content ?? new byte[_geometry.RootDirSectors * FatGeometry.SectorSize];
        EncodeDirectory(content, directory, parent, entries);
        if (fixedRoot)
        {
            FixedRoot = content;
        }
    }

    private bool HasLabel => _label.Any(b => b != (byte)' ');

    private static List<Entry> NameEntries(FatDirectory directory)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var children = directory.Children.Select(c => (Node: c, Exact: FatNames.ExactShortName(c.Name))).ToList();
        // Reserve the names that are already valid 8.3 first, so generated ~N names never collide with them.
        foreach (var (_, exact) in children)
        {
            if (exact is not null)
            {
                taken.Add(FatNames.Key(exact));
            }
        }
        return children
            .Select(c => c.Exact is { } shortName
                ? new Entry(c.Node, shortName, NeedsLongName: false)
                : new Entry(c.Node, FatNames.GenerateShortName(c.Node.Name, taken), NeedsLongName: true))
            .ToList();
    }

    private void EncodeDirectory(byte[] content, FatDirectory directory, FatDirectory? parent, List<Entry> entries)
    {
        var span = content.AsSpan();
        int offset = 0;
        var stamp = _options.Timestamp;
        if (parent is null)
        {
            if (HasLabel)
            {
                FatDirectoryEncoder.WriteShort(span[offset..], _label, FatDirectoryEncoder.AttributeVolumeLabel, 0, 0, stamp);
                offset += FatDirectoryEncoder.EntrySize;
            }
        }
        else
        {
            // ".." points at cluster 0 when the parent is the root, even on FAT32.
            uint parentCluster = ReferenceEquals(parent, _root) ? 0 : _firstCluster[parent];
            FatDirectoryEncoder.WriteShort(span[offset..], ".          "u8, FatDirectoryEncoder.AttributeDirectory, _firstCluster[directory], 0, stamp);
            offset += FatDirectoryEncoder.EntrySize;
            FatDirectoryEncoder.WriteShort(span[offset..], "..         "u8, FatDirectoryEncoder.AttributeDirectory,
                parentCluster, 0, stamp);
            offset += FatDirectoryEncoder.EntrySize;
        }
        foreach (var entry in entries)
        {
            if (entry.NeedsLongName)
            {
                FatDirectoryEncoder.WriteLong(span[offset..], entry.Node.Name, FatNames.Checksum(entry.ShortName));
                offset += FatDirectoryEncoder.LongEntryCount(entry.Node.Name) * FatDirectoryEncoder.EntrySize;
            }
            bool isDirectory = entry.Node is FatDirectory;
            uint size = entry.Node is FatFile file ? checked((uint)file.Length) : 0;
            FatDirectoryEncoder.WriteShort(span[offset..], entry.ShortName,
                isDirectory ? FatDirectoryEncoder.AttributeDirectory : FatDirectoryEncoder.AttributeArchive,
                _firstCluster.GetValueOrDefault(entry.Node), size, stamp);
            offset += FatDirectoryEncoder.EntrySize;
        }
    }

    private uint Allocate(long clusters)
    {
        if (UsedClusters + clusters > _geometry.ClusterCount)
        {
            throw new FatLayoutException(
                $"The content does not fit: the {_options.SizeBytes}-byte {_geometry.Type} volume has {_geometry.ClusterCount} clusters of {_geometry.ClusterSize} bytes and more are needed; make the volume bigger.");
        }
        uint first = _nextCluster;
        Table.SetChain(first, clusters);
        _nextCluster += (uint)clusters;
        return first;
    }
}
