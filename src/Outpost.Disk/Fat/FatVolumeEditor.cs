using System.Buffers.Binary;
using System.Collections;

namespace Outpost.Disk.Fat;

/// <summary>
/// Changes files of an existing FAT12/16/32 volume in place, through nothing but the <see cref="Stream"/> it is given
/// (a partition of a disk, a block device, an image file), in an order that survives a power cut at any point.
/// </summary>
/// <remarks>
/// <para><b>Power-safety rules.</b> "Flush" below is <see cref="DiskFlush.ToStableStorage"/> on the stream: a barrier
/// after which every earlier write is on stable storage. Between two flushes writes may land in any order; no rule
/// depends on their order.</para>
/// <list type="number">
/// <item><b>Replacing a file</b> never writes to the clusters of the live old version. New content goes to free
/// clusters (slack of the last cluster zeroed), its chain into every FAT copy (first FAT first), flush. Then the
/// existing short entry's first cluster, size and modification stamp are rewritten in place: one 32-byte write inside
/// one sector, so it lands whole. Flush. Only then is the old chain freed in every FAT copy, flush. A cut at any point
/// leaves exactly the old or exactly the new content readable; at worst clusters are leaked (allocated, unreferenced:
/// fsck.fat reclaims them). Replacing with identical content writes nothing.</item>
/// <item><b>Creating a file</b> writes its data and FAT chain and flushes before any directory slot changes. The new
/// entry goes into free slots of the parent (never-used, deleted, or long-name entries orphaned by an interrupted
/// create); the long-name entries are written and flushed first, then the short entry, the one that makes the file
/// visible, in its own write, then flush. A cut leaves either no file or the complete file with its long name; orphan
/// long-name entries are ignored by every reader (their checksum matches no short entry) and are reused later.
/// When the parent has no room and is a cluster chain (any directory except the fixed FAT12/16 root), it is extended:
/// the new zeroed clusters and their FAT chain are flushed first, then the directory's last cluster is linked to them,
/// flush. A full fixed root gives <see cref="FatLayoutException"/>.</item>
/// <item><b>Deleting a file</b> marks its short entry deleted (0xE5) and flushes (the file is gone), then marks its
/// long-name entries deleted and frees its chain in every FAT copy, flush.</item>
/// <item><b>Missing parent directories</b> of <see cref="WriteFile"/> are created, each by the create rule above (its
/// cluster with "." and ".." first, the entry last). A cut can leave an empty directory, never a broken one.</item>
/// <item>Clusters marked used in <em>any</em> FAT copy are never allocated, so leaked clusters from an earlier cut,
/// or a FAT copy that lags the first, cannot make a live file's clusters be reused. The first FAT is the one read.</item>
/// <item>FAT32's FSInfo free-cluster count and next-free hint are rewritten once per change, in the epoch where the
/// allocation becomes final (a hint only: no rule depends on it, and the write that makes a change visible stays the
/// only write between its two barriers).</item>
/// </list>
/// <para><b>Names.</b> Paths are '/'-separated long names, compared case-insensitively (ordinal). New entries get the
/// same names and stamps <see cref="FatWriter"/> gives: a name that is already an upper-case 8.3 name is stored as
/// that short name alone; any other gets VFAT long-name entries and a generated "STEM~N.EXT" short name unique in its
/// directory (<c>outpost-imgb+1.conf</c> → <c>OUTPOS~1.CON</c>, the next similar one <c>OUTPOS~2.CON</c>). All stamps are
/// the fixed timestamp given to <see cref="Open(Stream, DateTime)"/> (default <see cref="DefaultTimestamp"/>), so edits
/// are reproducible. Lookups match long names (or the short name of an entry without one), not the short aliases of
/// long-named entries; creating a name equal to such an alias is refused.</para>
/// <para><b>Untrusted input.</b> The boot sector, cluster numbers, chain lengths and loops are checked before use; a
/// damaged volume gives <see cref="FatLayoutException"/>, never a hang or an out-of-range read or write. A replaced or
/// deleted file whose old chain is damaged loses its entry but its clusters are leaked, not freed (freeing clusters
/// named by a damaged chain could free another file's). No change starts writing before all its checks pass.</para>
/// <para>The editor caches the first FAT: use one editor at a time per volume, and open a new one after anything else
/// wrote to the volume. Not thread-safe. A read-only stream is enough for <see cref="Exists"/>,
/// <see cref="ReadFile"/> and <see cref="ListFiles"/>.</para>
/// </remarks>
public sealed class FatVolumeEditor
{
    /// <summary>The stamp of new and changed entries unless <see cref="Open(Stream, DateTime)"/> is given one: the FAT epoch, 1980-01-01 00:00.</summary>
    public static readonly DateTime DefaultTimestamp = new(1980, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private const int Slot = FatDirectoryEncoder.EntrySize;
    private const int MaxDirectoryBytes = 65536 * Slot; // the FAT limit of 65536 entries per directory
    private const byte DeletedMarker = 0xE5;

    private readonly Stream _volume;
    private readonly FatVolumeLayout _layout;
    private readonly DateTime _timestamp;
    private readonly FatTable _fat;
    private readonly SortedSet<int> _dirtyFatSectors = [];
    private BitArray? _inUse;      // clusters used in any FAT copy, or allocated by this editor
    private long _available;       // clusters not in _inUse
    private long _freeInFirstFat;  // what FSInfo counts
    private uint _nextFree = 2;
    private bool _unflushed;

    private FatVolumeEditor(Stream volume, DateTime timestamp)
    {
        if (!volume.CanRead || !volume.CanSeek)
        {
            throw new ArgumentException("The FAT volume stream must be readable and seekable (and writable to change files).", nameof(volume));
        }
        _volume = volume;
        _timestamp = timestamp;
        long length = volume.Length;
        if (length < FatVolumeLayout.BootSectorSize)
        {
            throw new FatLayoutException($"The stream holds {length} bytes, too few for a FAT volume.");
        }
        _layout = FatVolumeLayout.Parse(ReadAt(0, FatVolumeLayout.BootSectorSize), length);
        _fat = FatTable.Wrap(_layout.Type, ReadAt(_layout.FatOffset, _layout.UsedFatBytes));
    }

    /// <summary>Opens the volume that starts at position 0 of <paramref name="volume"/> (readable, writable, seekable).</summary>
    /// <exception cref="FatLayoutException">The stream holds no FAT volume, or its boot sector is damaged.</exception>
    public static FatVolumeEditor Open(Stream volume) => new(volume, DefaultTimestamp);

    /// <summary>As <see cref="Open(Stream)"/>, stamping new and changed entries with <paramref name="timestamp"/> (DOS resolution: 2 s, 1980-2107).</summary>
    public static FatVolumeEditor Open(Stream volume, DateTime timestamp) => new(volume, timestamp);

    /// <summary>FAT variant of the volume.</summary>
    public FatType Type => _layout.Type;

    /// <summary>Whether a file or directory exists at <paramref name="path"/> ("" is the root).</summary>
    /// <exception cref="FatLayoutException">A name is not a valid FAT name, or a directory on the way is damaged.</exception>
    public bool Exists(string path)
    {
        var parts = SplitPath(path);
        if (parts.Length == 0)
        {
            return true;
        }
        var parent = TryResolveDirectory(parts[..^1]);
        return parent is not null && Find(parent, parts[^1]) is not null;
    }

    /// <summary>Reads a whole file.</summary>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/> (or it is a directory).</exception>
    /// <exception cref="FatLayoutException">The file's cluster chain is damaged.</exception>
    public byte[] ReadFile(string path)
    {
        var parts = SplitPath(path);
        var record = parts.Length == 0 ? null : TryResolveDirectory(parts[..^1]) is { } parent ? Find(parent, parts[^1]) : null;
        if (record is null)
        {
            throw new FileNotFoundException($"'{path}' is not on this FAT volume.", path);
        }
        if (record.IsDirectory)
        {
            throw new FileNotFoundException($"'{path}' is a directory on this FAT volume, not a file.", path);
        }
        return ReadContent(record, path);
    }

    /// <summary>Long names of the files (not subdirectories) directly in <paramref name="directory"/> ("" is the root), in directory order.</summary>
    /// <exception cref="DirectoryNotFoundException">There is no directory at <paramref name="directory"/>.</exception>
    public IReadOnlyList<string> ListFiles(string directory)
    {
        var dir = TryResolveDirectory(SplitPath(directory))
            ?? throw new DirectoryNotFoundException($"'{directory}' is not a directory on this FAT volume.");
        return dir.Listing.Records.Where(r => r.IsNamed && !r.IsDirectory).Select(r => r.Name).ToList();
    }

    /// <summary>
    /// Creates or replaces the file at <paramref name="path"/> with <paramref name="content"/>, creating missing parent
    /// directories, following the power-safety rules in the remarks. Replacing needs free space for the new content
    /// while the old one still exists.
    /// </summary>
    /// <exception cref="FatLayoutException">A name is invalid or taken by a directory or a short alias, the volume or the
    /// (fixed FAT12/16 root) directory is full, or the volume is damaged. Nothing was written then, except parent
    /// directories that were created before the failure.</exception>
    /// <exception cref="NotSupportedException">The stream is not writable.</exception>
    public void WriteFile(string path, ReadOnlySpan<byte> content)
    {
        var parts = SplitPath(path);
        if (parts.Length == 0)
        {
            throw new FatLayoutException($"'{path}' is not a file path; give one such as 'loader/entries/outpost.conf'.");
        }
        RequireWritable();
        PrepareAllocation();
        var parent = ResolveOrCreateDirectories(parts[..^1]);
        var existing = Find(parent, parts[^1]);
        if (existing is null)
        {
            CreateEntry(parent, parts[^1], content, directory: false);
        }
        else if (existing.IsDirectory)
        {
            throw new FatLayoutException($"'{path}' is a directory on this FAT volume, so it cannot be written as a file.");
        }
        else
        {
            Replace(parent, existing, content, path);
        }
    }

    /// <summary>Deletes the file at <paramref name="path"/>; does nothing when there is none. See the remarks for the write order.</summary>
    /// <exception cref="FatLayoutException"><paramref name="path"/> is a directory, or a name is invalid.</exception>
    /// <exception cref="NotSupportedException">The stream is not writable.</exception>
    public void Delete(string path)
    {
        var parts = SplitPath(path);
        if (parts.Length == 0)
        {
            throw new FatLayoutException($"'{path}' is not a file path; the root cannot be deleted.");
        }
        var parent = TryResolveDirectory(parts[..^1]);
        if (parent is null || Find(parent, parts[^1]) is not { } record)
        {
            return;
        }
        if (record.IsDirectory)
        {
            throw new FatLayoutException($"'{path}' is a directory; this editor deletes files only.");
        }
        RequireWritable();
        PrepareAllocation();
        var oldChain = TryFullChain(record.FirstCluster);

        var shortEntry = parent.Content.AsSpan(record.ShortSlot * Slot, Slot).ToArray();
        shortEntry[0] = DeletedMarker;
        WriteSlots(parent, record.ShortSlot, shortEntry);
        Flush();

        if (record.FirstSlot < record.ShortSlot)
        {
            var longEntries = parent.Content.AsSpan(record.FirstSlot * Slot, (record.ShortSlot - record.FirstSlot) * Slot).ToArray();
            for (int offset = 0; offset < longEntries.Length; offset += Slot)
            {
                longEntries[offset] = DeletedMarker;
            }
            WriteSlots(parent, record.FirstSlot, longEntries);
        }
        FreeChain(oldChain);
        WriteFatChanges();
        WriteFsInfo();
        Flush();
    }

    // ---- the three changes ----

    private void Replace(DirectoryView parent, FatDirectoryRecord existing, ReadOnlySpan<byte> content, string path)
    {
        var oldChain = TryFullChain(existing.FirstCluster);
        bool readable = oldChain is not null && oldChain.Count >= ClustersFor(existing.Size);
        if (existing.Size == content.Length && (content.Length == 0 || (readable && content.SequenceEqual(ReadContent(existing, path)))))
        {
            return;
        }
        long clusterCount = ClustersFor(content.Length);
        RequireFree(clusterCount, path);

        var clusters = Allocate(clusterCount);
        WriteClusters(clusters, content);
        SetChain(clusters);
        WriteFatChanges();
        Flush(); // (nothing to flush when the new content is empty)

        var entry = parent.Content.AsSpan(existing.ShortSlot * Slot, Slot).ToArray();
        FatDirectoryEncoder.Retarget(entry, clusters.Count > 0 ? clusters[0] : 0, (uint)content.Length, _timestamp);
        WriteSlots(parent, existing.ShortSlot, entry);
        Flush();

        FreeChain(oldChain);
        WriteFatChanges();
        WriteFsInfo();
        Flush();
    }

    /// <summary>Creates a file with <paramref name="content"/>, or (when <paramref name="directory"/>) an empty directory.</summary>
    private FatDirectoryRecord CreateEntry(DirectoryView parent, string name, ReadOnlySpan<byte> content, bool directory)
    {
        string path = parent.Child(name);
        var plan = PlanEntry(parent, name);
        long clusterCount = directory ? 1 : ClustersFor(content.Length);
        RequireFree(clusterCount + plan.ExtensionClusters, path);

        // 1. Data, the parent's new clusters (zeroed) and their FAT chains; nothing refers to any of it yet.
        var clusters = Allocate(clusterCount);
        WriteClusters(clusters, directory ? NewDirectoryCluster(clusters[0], parent) : content);
        SetChain(clusters);
        var extension = Allocate(plan.ExtensionClusters);
        WriteClusters(extension, []);
        SetChain(extension);
        if (plan.TerminatorSlot is { } terminator)
        {
            // The entry goes where the directory's end marker was and the slot after it holds stale bytes: make it the end.
            WriteSlots(parent, terminator, new byte[Slot]);
        }
        WriteFatChanges();
        WriteFsInfo(); // the allocation is final now; written here so the entry writes below stay alone between barriers
        Flush();

        // 2. Grow the directory by linking the zeroed clusters in.
        if (extension.Count > 0)
        {
            SetFat(parent.Clusters[^1], extension[0]);
            WriteFatChanges();
            Flush();
            parent.Grow(extension, _layout.ClusterSize);
        }

        // 3. Long-name entries, then the short entry that makes it visible.
        uint first = clusters.Count > 0 ? clusters[0] : 0;
        uint size = directory ? 0 : (uint)content.Length;
        int longCount = plan.LongName ? FatDirectoryEncoder.LongEntryCount(name) : 0;
        if (longCount > 0)
        {
            var longEntries = new byte[longCount * Slot];
            FatDirectoryEncoder.WriteLong(longEntries, name, FatNames.Checksum(plan.ShortName));
            WriteSlots(parent, plan.FirstSlot, longEntries);
            Flush();
        }
        var shortEntry = new byte[Slot];
        byte attributes = directory ? FatDirectoryEncoder.AttributeDirectory : FatDirectoryEncoder.AttributeArchive;
        FatDirectoryEncoder.WriteShort(shortEntry, plan.ShortName, attributes, first, size, _timestamp);
        WriteSlots(parent, plan.FirstSlot + longCount, shortEntry);
        Flush();
        return new FatDirectoryRecord(plan.FirstSlot, plan.FirstSlot + longCount, name, plan.ShortName, attributes, first, size);
    }

    private byte[] NewDirectoryCluster(uint cluster, DirectoryView parent)
    {
        var content = new byte[_layout.ClusterSize];
        FatDirectoryEncoder.WriteShort(content, ".          "u8, FatDirectoryEncoder.AttributeDirectory, cluster, 0, _timestamp);
        // ".." names cluster 0 when the parent is the root, even on FAT32.
        FatDirectoryEncoder.WriteShort(content.AsSpan(Slot), "..         "u8, FatDirectoryEncoder.AttributeDirectory,
            parent.IsRoot ? 0 : parent.FirstCluster, 0, _timestamp);
        return content;
    }

    /// <summary>Where a new entry goes and what it is called; every check of a create, before anything is written.</summary>
    private sealed record EntryPlan(byte[] ShortName, bool LongName, int FirstSlot, int ExtensionClusters, int? TerminatorSlot);

    private EntryPlan PlanEntry(DirectoryView parent, string name)
    {
        var named = parent.Listing.Records.Where(r => r.IsNamed).ToList();
        if (named.FirstOrDefault(r => string.Equals(r.ShortDisplayName, name, StringComparison.OrdinalIgnoreCase)) is { } alias)
        {
            throw new FatLayoutException($"'{parent.Child(name)}' is the short name of '{parent.Child(alias.Name)}' on this FAT volume; choose another name.");
        }
        var taken = named.Select(r => FatNames.Key(r.ShortName)).ToHashSet(StringComparer.Ordinal);
        var exact = FatNames.ExactShortName(name);
        var shortName = exact ?? FatNames.GenerateShortName(name, taken);
        int needed = (exact is null ? FatDirectoryEncoder.LongEntryCount(name) : 0) + 1;

        var listing = parent.Listing;
        int first = FirstFreeRun(listing, needed);
        int extensionClusters = 0;
        if (first < 0)
        {
            if (parent.Clusters.Count == 0)
            {
                throw new FatLayoutException(
                    $"The root directory of this {_layout.Type} volume is full ({_layout.RootEntries} entries) and cannot grow; put '{name}' in a subdirectory or delete files from the root.");
            }
            int trailing = 0;
            while (trailing < listing.SlotCount && listing.IsFree(listing.SlotCount - 1 - trailing))
            {
                trailing++;
            }
            int slotsPerCluster = _layout.ClusterSize / Slot;
            extensionClusters = (needed - trailing + slotsPerCluster - 1) / slotsPerCluster;
            if (parent.Content.Length + (long)extensionClusters * _layout.ClusterSize > MaxDirectoryBytes)
            {
                throw new FatLayoutException($"Directory '{parent.Path}' is full (FAT allows {MaxDirectoryBytes / Slot} entries); delete files from it first.");
            }
            first = listing.SlotCount - trailing;
        }
        int after = first + needed;
        int? terminator = after < listing.SlotCount && after >= listing.EndSlot && parent.Content[after * Slot] != 0 ? after : null;
        return new EntryPlan(shortName, exact is null, first, extensionClusters, terminator);
    }

    private static int FirstFreeRun(FatDirectoryListing listing, int needed)
    {
        int run = 0;
        for (int slot = 0; slot < listing.SlotCount; slot++)
        {
            run = listing.IsFree(slot) ? run + 1 : 0;
            if (run == needed)
            {
                return slot - needed + 1;
            }
        }
        return -1;
    }

    // ---- directories and paths ----

    /// <summary>A directory read from the volume: its clusters (none for the fixed FAT12/16 root) and content.</summary>
    private sealed class DirectoryView(string path, uint firstCluster, bool isRoot, List<uint> clusters, byte[] content)
    {
        public string Path { get; } = path;
        public uint FirstCluster { get; } = firstCluster;
        public bool IsRoot { get; } = isRoot;
        public List<uint> Clusters { get; } = clusters;
        public byte[] Content { get; private set; } = content;
        public FatDirectoryListing Listing { get; private set; } = FatDirectoryParser.Parse(content);

        public string Child(string name) => Path.Length == 0 ? name : Path + "/" + name;

        public void Update(int firstSlot, byte[] entries)
        {
            entries.CopyTo(Content.AsSpan(firstSlot * FatDirectoryEncoder.EntrySize));
            Listing = FatDirectoryParser.Parse(Content);
        }

        public void Grow(List<uint> added, int clusterSize)
        {
            Clusters.AddRange(added);
            Content = [.. Content, .. new byte[added.Count * clusterSize]];
            Listing = FatDirectoryParser.Parse(Content);
        }
    }

    private DirectoryView Root()
    {
        if (_layout.Type != FatType.Fat32)
        {
            return new DirectoryView("", 0, isRoot: true, [], ReadAt(_layout.RootOffset, _layout.RootEntries * Slot));
        }
        return LoadDirectory("", _layout.RootCluster, isRoot: true);
    }

    private DirectoryView LoadDirectory(string path, uint firstCluster, bool isRoot)
    {
        var clusters = Chain(firstCluster, Math.Max(1, MaxDirectoryBytes / _layout.ClusterSize), toEnd: true, isRoot ? "the root directory" : $"directory '{path}'");
        var content = new byte[clusters.Count * _layout.ClusterSize];
        ReadClusters(clusters, content);
        return new DirectoryView(path, firstCluster, isRoot, clusters, content);
    }

    private DirectoryView OpenChild(DirectoryView parent, FatDirectoryRecord record)
    {
        string path = parent.Child(record.Name);
        if (record.FirstCluster == 0)
        {
            throw new FatLayoutException($"Directory '{path}' has no clusters; the volume is damaged. Check it with fsck.fat.");
        }
        return LoadDirectory(path, record.FirstCluster, isRoot: false);
    }

    private DirectoryView? TryResolveDirectory(string[] parts)
    {
        var directory = Root();
        foreach (var part in parts)
        {
            if (Find(directory, part) is not { IsDirectory: true } record)
            {
                return null;
            }
            directory = OpenChild(directory, record);
        }
        return directory;
    }

    private DirectoryView ResolveOrCreateDirectories(string[] parts)
    {
        var directory = Root();
        foreach (var part in parts)
        {
            var record = Find(directory, part) ?? CreateEntry(directory, part, [], directory: true);
            if (!record.IsDirectory)
            {
                throw new FatLayoutException($"'{directory.Child(part)}' is a file on this FAT volume, so it cannot be a directory.");
            }
            directory = OpenChild(directory, record);
        }
        return directory;
    }

    private static FatDirectoryRecord? Find(DirectoryView directory, string name) =>
        directory.Listing.Records.FirstOrDefault(r => r.IsNamed && string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));

    private static string[] SplitPath(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        foreach (var part in parts)
        {
            FatNames.ValidateLongName(part);
        }
        return parts;
    }

    private long SlotOffset(DirectoryView directory, int slot)
    {
        if (directory.Clusters.Count == 0)
        {
            return _layout.RootOffset + (long)slot * Slot;
        }
        int perCluster = _layout.ClusterSize / Slot;
        return _layout.ClusterOffset(directory.Clusters[slot / perCluster]) + (long)(slot % perCluster) * Slot;
    }

    /// <summary>Writes consecutive slots starting at <paramref name="firstSlot"/>, one write per physically contiguous piece.</summary>
    private void WriteSlots(DirectoryView directory, int firstSlot, byte[] entries)
    {
        int count = entries.Length / Slot;
        int start = 0;
        while (start < count)
        {
            long offset = SlotOffset(directory, firstSlot + start);
            int end = start + 1;
            while (end < count && SlotOffset(directory, firstSlot + end) == offset + (long)(end - start) * Slot)
            {
                end++;
            }
            WriteAt(offset, entries.AsSpan(start * Slot, (end - start) * Slot));
            start = end;
        }
        directory.Update(firstSlot, entries);
    }

    // ---- clusters and the FAT ----

    private long ClustersFor(long bytes) => (bytes + _layout.ClusterSize - 1) / _layout.ClusterSize;

    /// <summary>
    /// Follows a chain from <paramref name="first"/>: to its end (<paramref name="toEnd"/>, at most <paramref name="limit"/>
    /// clusters), or exactly <paramref name="limit"/> clusters. Every link is range-checked and a loop is an error.
    /// </summary>
    private List<uint> Chain(uint first, long limit, bool toEnd, string what)
    {
        if (limit > _layout.ClusterCount)
        {
            if (!toEnd)
            {
                throw new FatLayoutException($"The size of {what} needs {limit} clusters but the volume has only {_layout.ClusterCount}; the volume is damaged. Check it with fsck.fat.");
            }
            limit = _layout.ClusterCount;
        }
        var clusters = new List<uint>();
        var seen = new BitArray((int)_layout.ClusterCount + 2);
        uint cluster = first;
        while (true)
        {
            if (clusters.Count == limit)
            {
                if (!toEnd)
                {
                    return clusters;
                }
                throw new FatLayoutException($"The cluster chain of {what} is longer than {limit} clusters (more than a directory may have); the volume is damaged. Check it with fsck.fat.");
            }
            if (cluster < 2 || cluster > _layout.MaxCluster)
            {
                string found = cluster == 0 ? "a free cluster" : cluster >= _layout.EndOfChainMinimum - 1 ? $"the mark {cluster:X}" : $"cluster {cluster}";
                throw new FatLayoutException($"The cluster chain of {what} reaches {found}, not a cluster of this volume (2-{_layout.MaxCluster}); the volume is damaged. Check it with fsck.fat.");
            }
            if (seen[(int)cluster])
            {
                throw new FatLayoutException($"The cluster chain of {what} loops back to cluster {cluster}; the volume is damaged. Check it with fsck.fat.");
            }
            seen[(int)cluster] = true;
            clusters.Add(cluster);
            uint next = _fat.Get(cluster);
            if (next >= _layout.EndOfChainMinimum)
            {
                if (!toEnd && clusters.Count < limit)
                {
                    throw new FatLayoutException($"The cluster chain of {what} ends after {clusters.Count} clusters but its size needs {limit}; the volume is damaged. Check it with fsck.fat.");
                }
                return clusters;
            }
            cluster = next;
        }
    }

    /// <summary>The whole chain of a file, or null when it is damaged (its clusters are then leaked, not freed).</summary>
    private List<uint>? TryFullChain(uint first)
    {
        if (first == 0)
        {
            return [];
        }
        try
        {
            return Chain(first, _layout.ClusterCount, toEnd: true, "a file");
        }
        catch (FatLayoutException)
        {
            return null;
        }
    }

    private byte[] ReadContent(FatDirectoryRecord record, string path)
    {
        if (record.Size == 0)
        {
            return [];
        }
        if (record.Size > Array.MaxLength)
        {
            throw new FatLayoutException($"'{path}' is {record.Size} bytes, too big to read into memory.");
        }
        var clusters = Chain(record.FirstCluster, ClustersFor(record.Size), toEnd: false, $"'{path}'");
        var content = new byte[record.Size];
        ReadClusters(clusters, content);
        return content;
    }

    /// <summary>Fills <paramref name="destination"/> from the clusters in order, one read per contiguous run.</summary>
    private void ReadClusters(List<uint> clusters, Span<byte> destination)
    {
        int done = 0;
        foreach (var (first, count) in Runs(clusters))
        {
            int bytes = (int)Math.Min((long)count * _layout.ClusterSize, destination.Length - done);
            _volume.Position = _layout.ClusterOffset(first);
            _volume.ReadExactly(destination.Slice(done, bytes));
            done += bytes;
        }
    }

    /// <summary>Writes <paramref name="content"/> over the clusters in order, zeroing the rest of the last one.</summary>
    private void WriteClusters(List<uint> clusters, ReadOnlySpan<byte> content)
    {
        int done = 0;
        foreach (var (first, count) in Runs(clusters))
        {
            long offset = _layout.ClusterOffset(first);
            int runBytes = count * _layout.ClusterSize;
            int data = Math.Min(runBytes, content.Length - done);
            if (data > 0)
            {
                WriteAt(offset, content.Slice(done, data));
            }
            if (data < runBytes)
            {
                WriteAt(offset + data, new byte[runBytes - data]);
            }
            done += data;
        }
    }

    private static IEnumerable<(uint First, int Count)> Runs(List<uint> clusters)
    {
        int i = 0;
        while (i < clusters.Count)
        {
            int j = i + 1;
            while (j < clusters.Count && clusters[j] == clusters[j - 1] + 1)
            {
                j++;
            }
            yield return (clusters[i], j - i);
            i = j;
        }
    }

    /// <summary>Reads every FAT copy once, before the first change: a cluster used in any copy is never allocated.</summary>
    private void PrepareAllocation()
    {
        if (_inUse is not null)
        {
            return;
        }
        var inUse = new BitArray((int)_layout.ClusterCount + 2);
        inUse[0] = inUse[1] = true;
        for (uint cluster = 2; cluster <= _layout.MaxCluster; cluster++)
        {
            if (_fat.Get(cluster) != 0)
            {
                inUse[(int)cluster] = true;
            }
            else
            {
                _freeInFirstFat++;
            }
        }
        for (int copy = 1; copy < _layout.FatCount; copy++)
        {
            var table = FatTable.Wrap(_layout.Type, ReadAt(_layout.FatOffset + copy * _layout.FatBytes, _layout.UsedFatBytes));
            for (uint cluster = 2; cluster <= _layout.MaxCluster; cluster++)
            {
                if (table.Get(cluster) != 0)
                {
                    inUse[(int)cluster] = true;
                }
            }
        }
        _available = 0;
        for (int cluster = 2; cluster < inUse.Length; cluster++)
        {
            if (!inUse[cluster])
            {
                _available++;
            }
        }
        _inUse = inUse;
    }

    private void RequireFree(long clusters, string path)
    {
        if (clusters > _available)
        {
            throw new FatLayoutException(
                $"'{path}' needs {clusters} free clusters of {_layout.ClusterSize} bytes but the volume has {_available}; delete files first (a replaced file's old clusters are freed only after the new content is written).");
        }
    }

    /// <summary>Takes <paramref name="count"/> free clusters (next fit, ascending where possible); the caller checked there are enough.</summary>
    private List<uint> Allocate(long count)
    {
        var inUse = _inUse!;
        var clusters = new List<uint>((int)count);
        uint cluster = _nextFree;
        for (long scanned = 0; clusters.Count < count && scanned < _layout.ClusterCount; scanned++, cluster++)
        {
            if (cluster < 2 || cluster > _layout.MaxCluster)
            {
                cluster = 2;
            }
            if (!inUse[(int)cluster])
            {
                inUse[(int)cluster] = true;
                clusters.Add(cluster);
            }
        }
        if (clusters.Count < count)
        {
            throw new InvalidOperationException("The free-cluster count was wrong; no cluster was written.");
        }
        _available -= count;
        _nextFree = cluster > _layout.MaxCluster ? 2 : cluster;
        return clusters;
    }

    private void SetChain(List<uint> clusters)
    {
        for (int i = 0; i < clusters.Count; i++)
        {
            SetFat(clusters[i], i == clusters.Count - 1 ? _fat.EndOfChain : clusters[i + 1]);
        }
    }

    private void FreeChain(List<uint>? clusters)
    {
        foreach (var cluster in clusters ?? [])
        {
            SetFat(cluster, 0);
            _inUse![(int)cluster] = false;
            _available++;
        }
    }

    private void SetFat(uint cluster, uint value)
    {
        uint old = _fat.Get(cluster);
        _fat.Set(cluster, value);
        _freeInFirstFat += (value == 0 ? 1 : 0) - (old == 0 ? 1 : 0);
        var (offset, count) = _fat.Location(cluster);
        for (int sector = offset / _layout.SectorSize; sector <= (offset + count - 1) / _layout.SectorSize; sector++)
        {
            _dirtyFatSectors.Add(sector);
        }
    }

    /// <summary>Writes the changed FAT sectors to every copy, the first copy first.</summary>
    private void WriteFatChanges()
    {
        if (_dirtyFatSectors.Count == 0)
        {
            return;
        }
        var runs = new List<(int First, int Count)>();
        foreach (int sector in _dirtyFatSectors)
        {
            if (runs.Count > 0 && runs[^1].First + runs[^1].Count == sector)
            {
                runs[^1] = (runs[^1].First, runs[^1].Count + 1);
            }
            else
            {
                runs.Add((sector, 1));
            }
        }
        for (int copy = 0; copy < _layout.FatCount; copy++)
        {
            foreach (var (first, count) in runs)
            {
                int offset = first * _layout.SectorSize;
                WriteAt(_layout.FatOffset + copy * _layout.FatBytes + offset, _fat.Bytes.AsSpan(offset, count * _layout.SectorSize));
            }
        }
        _dirtyFatSectors.Clear();
    }

    /// <summary>Updates FAT32's FSInfo hints (free count, next free) when the sector is there and valid.</summary>
    private void WriteFsInfo()
    {
        if (_layout.FsInfoSector == 0)
        {
            return;
        }
        long offset = (long)_layout.FsInfoSector * _layout.SectorSize;
        var sector = ReadAt(offset, FatVolumeLayout.BootSectorSize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(sector) != 0x41615252 || BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(484)) != 0x61417272)
        {
            return;
        }
        Span<byte> hints = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(hints, (uint)_freeInFirstFat);
        BinaryPrimitives.WriteUInt32LittleEndian(hints[4..], _nextFree);
        if (!hints.SequenceEqual(sector.AsSpan(488, 8)))
        {
            WriteAt(offset + 488, hints);
        }
    }

    // ---- the stream ----

    private void RequireWritable()
    {
        if (!_volume.CanWrite)
        {
            throw new NotSupportedException("The FAT volume was opened read-only; open the disk or partition for writing to change files.");
        }
    }

    private byte[] ReadAt(long offset, int count)
    {
        var buffer = new byte[count];
        _volume.Position = offset;
        _volume.ReadExactly(buffer);
        return buffer;
    }

    private void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0 || offset + data.Length > _layout.TotalBytes)
        {
            throw new InvalidOperationException($"A write of {data.Length} bytes at {offset} would leave the {_layout.TotalBytes}-byte FAT volume; nothing was written.");
        }
        _volume.Position = offset;
        _volume.Write(data);
        _unflushed = true;
    }

    /// <summary>The barrier of the power-safety rules; skipped when nothing was written since the last one.</summary>
    private void Flush()
    {
        if (_unflushed)
        {
            DiskFlush.ToStableStorage(_volume);
            _unflushed = false;
        }
    }
}
