using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using CsCheck;
using Outpost.Disk.Fat;

namespace Outpost.Disk.Tests.Fat;

public sealed class FatVolumeEditorTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private const string Entries = "loader/entries";
    private static readonly DateTime Stamp = new(2024, 5, 17, 12, 30, 44);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    // ---- volumes ----

    private static long SizeOf(FatType type) => type switch
    {
        FatType.Fat12 => 4 * MiB,  // 2 KiB clusters
        FatType.Fat16 => 12 * MiB, // 2 KiB clusters
        _ => 34 * MiB,             // 512-byte clusters
    };

    private static SortedDictionary<string, byte[]> BaseFiles() => new(StringComparer.Ordinal)
    {
        ["EFI/BOOT/BOOTX64.EFI"] = Deterministic(70_000, seed: 1),
        ["loader/loader.conf"] = "timeout 3\n"u8.ToArray(),
        [$"{Entries}/outpost-imga+3.conf"] = Entry("imga"),
        ["outpost/IMGA/vmlinuz"] = Deterministic(5_000, seed: 2),
        ["server"] = "zedcloud.example.com:443\n"u8.ToArray(),
        ["empty"] = [],
    };

    private static readonly Dictionary<FatType, byte[]> Built = [];

    /// <summary>The writer's volume with <see cref="BaseFiles"/>, built once per type (never modified: tests edit overlays or clones).</summary>
    private static async Task<byte[]> BuildAsync(FatType type)
    {
        lock (Built)
        {
            if (Built.TryGetValue(type, out var built))
            {
                return built;
            }
        }
        var root = FatDirectory.CreateRoot();
        foreach (var (path, content) in BaseFiles())
        {
            root.AddFile(path, content);
        }
        using var output = new MemoryStream();
        await FatWriter.WriteAsync(output, root, new FatVolumeOptions(SizeOf(type), "ESP", Stamp, 0x0E5B0001) { Type = type });
        var image = output.ToArray();
        lock (Built)
        {
            Built[type] = image;
        }
        return image;
    }

    private static OverlayStream Writable(byte[] image) => new(image);

    private static byte[] Deterministic(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] Entry(string slot) =>
        Encoding.UTF8.GetBytes($"title Outpost {slot}\nlinux /outpost/{slot.ToUpperInvariant()}/vmlinuz\noptions root=PARTLABEL={slot.ToUpperInvariant()}\n");

    private static string DirectoryOf(string path) => path.Contains('/') ? path[..path.LastIndexOf('/')] : "";

    private static string NameOf(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary>The independent reader and a fresh editor both see exactly the files of <paramref name="model"/>.</summary>
    private static void AssertVolumeHolds(Stream volume, IReadOnlyDictionary<string, byte[]> model)
    {
        var reader = FatVolumeReader.Open(volume);
        var listed = reader.ListAll().Where(e => !e.IsDirectory).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(model.Keys.Order(StringComparer.Ordinal), listed);
        var editor = FatVolumeEditor.Open(volume);
        foreach (var (path, content) in model)
        {
            Assert.True(content.AsSpan().SequenceEqual(reader.ReadFile(path)), $"the reader reads '{path}' wrong");
            Assert.True(content.AsSpan().SequenceEqual(editor.ReadFile(path)), $"the editor reads '{path}' wrong");
            Assert.True(editor.Exists(path), path);
        }
        foreach (var directory in model.Keys.Select(DirectoryOf).Distinct())
        {
            var expected = model.Keys.Where(p => DirectoryOf(p) == directory).Select(NameOf).Order(StringComparer.Ordinal);
            Assert.Equal(expected, editor.ListFiles(directory).Order(StringComparer.Ordinal));
        }
    }

    private void AssertFsckClean(byte[] image)
    {
        var file = _temp.File($"fsck-{Guid.NewGuid():N}.img");
        File.WriteAllBytes(file, image);
        var fsck = ExternalTool.Run("fsck.vfat", "-n", "-v", file);
        Assert.True(fsck.ExitCode == 0, fsck.All);
        Assert.DoesNotContain("Free cluster summary wrong", fsck.All);
        Assert.DoesNotContain("differ", fsck.All);
    }

    /// <summary>Boot-sector facts the tests need to locate clusters and FAT entries, parsed independently of the code under test.</summary>
    private sealed record Geometry(FatType Type, int ClusterSize, long FatOffset, long FatBytes, int FatCount, long DataOffset)
    {
        public static Geometry Of(byte[] image, FatType type)
        {
            int sectorSize = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(11));
            int reserved = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(14));
            int rootEntries = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(17));
            long fatSectors = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(22)) is var f and > 0 ? f : BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(36));
            long fatOffset = (long)reserved * sectorSize;
            long rootOffset = fatOffset + image[16] * fatSectors * sectorSize;
            return new Geometry(type, image[13] * sectorSize, fatOffset, fatSectors * sectorSize, image[16], rootOffset + rootEntries * 32L);
        }

        public long ClusterOffset(uint cluster) => DataOffset + (cluster - 2L) * ClusterSize;

        public (long Offset, int Length) FatEntry(int copy, uint cluster)
        {
            long start = FatOffset + copy * FatBytes;
            return Type switch
            {
                FatType.Fat12 => (start + cluster + cluster / 2, 2),
                FatType.Fat16 => (start + cluster * 2L, 2),
                _ => (start + cluster * 4L, 4),
            };
        }

        public uint Value(byte[] image, int copy, uint cluster)
        {
            var (offset, _) = FatEntry(copy, cluster);
            return Type switch
            {
                FatType.Fat12 => (cluster & 1) == 0 ? BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)offset)) & 0xFFFu : (uint)BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)offset)) >> 4,
                FatType.Fat16 => BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)offset)),
                _ => BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan((int)offset)) & 0x0FFFFFFF,
            };
        }

        public List<uint> Chain(byte[] image, uint first)
        {
            var chain = new List<uint>();
            uint end = Type == FatType.Fat12 ? 0xFF8u : Type == FatType.Fat16 ? 0xFFF8u : 0x0FFFFFF8u;
            for (uint cluster = first; cluster >= 2 && cluster < end && chain.Count < 1_000_000; cluster = Value(image, 0, cluster))
            {
                chain.Add(cluster);
            }
            return chain;
        }
    }

    private static FatEntryInfo InfoOf(byte[] image, string path) =>
        FatVolumeReader.Open(new MemoryStream(image)).ListAll().Single(e => e.Path == path);

    // ---- behaviour ----

    [Theory]
    [InlineData(FatType.Fat12)]
    [InlineData(FatType.Fat16)]
    [InlineData(FatType.Fat32)]
    public async Task CreateReplaceAndDeleteReadBackTheSameThroughTheEditorAndTheReader(FatType type)
    {
        using var volume = Writable(await BuildAsync(type));
        var model = new Dictionary<string, byte[]>(BaseFiles());
        var editor = FatVolumeEditor.Open(volume, Stamp);
        Assert.Equal(type, editor.Type);
        void Write(string path, byte[] content)
        {
            model[path] = content;
            editor.WriteFile(path, content);
            AssertVolumeHolds(volume, model);
        }

        string entry = $"{Entries}/outpost-imgb+1.conf";
        Write(entry, Entry("imgb"));                     // create
        Write(entry, Deterministic(20_000, seed: 3));    // replace, bigger (many clusters)
        Write(entry, Deterministic(700, seed: 4));       // replace, smaller
        Write(entry, []);                                // replace, empty
        Assert.Equal(0u, FatVolumeReader.Open(volume).ListAll().Single(e => e.Path == entry).FirstCluster);
        Write(entry, Entry("imgb"));
        Write("EFI/BOOT/BOOTX64.EFI", Deterministic(80_000, seed: 5)); // a file the writer made
        Write("EFI/BOOT/GRUBX64.EFI", Deterministic(3_000, seed: 6));  // an exact 8.3 name
        Write("empty", "now with content"u8.ToArray());
        Write("EFI/Linux/outpost-imgb.efi", Deterministic(9_000, seed: 7)); // missing parent is created
        Assert.Contains(FatVolumeReader.Open(volume).ListAll(), e => e.IsDirectory && e.Path == "EFI/Linux");

        editor.Delete(entry);
        model.Remove(entry);
        AssertVolumeHolds(volume, model);
        Assert.False(editor.Exists(entry));
        editor.Delete(entry); // no-op
        editor.Delete("no/such/dir/file");
        editor.Delete("outpost/IMGA/vmlinuz");
        model.Remove("outpost/IMGA/vmlinuz");
        AssertVolumeHolds(volume, model);

        Assert.True(editor.Exists("outpost/IMGA"));
        Assert.True(editor.Exists(""));
        Assert.Empty(editor.ListFiles("outpost/IMGA"));
        Assert.Equal(["loader.conf"], editor.ListFiles("loader"));
        Assert.True(editor.Exists("LOADER/ENTRIES/OUTPOST-IMGA+3.CONF"));
        Assert.Throws<FileNotFoundException>(() => editor.ReadFile(entry));
        Assert.Throws<FileNotFoundException>(() => editor.ReadFile(Entries));
        Assert.Throws<DirectoryNotFoundException>(() => editor.ListFiles("nope"));
        Assert.Throws<DirectoryNotFoundException>(() => editor.ListFiles("server"));
        Assert.Throws<FatLayoutException>(() => editor.WriteFile(Entries, [1]));
        Assert.Throws<FatLayoutException>(() => editor.WriteFile("server/x", [1]));
        Assert.Throws<FatLayoutException>(() => editor.WriteFile("bad:name", [1]));
        Assert.Throws<FatLayoutException>(() => editor.Delete(Entries));
        AssertFsckClean(volume.ToArray());
    }

    [Theory]
    [InlineData(FatType.Fat12)]
    [InlineData(FatType.Fat32)]
    public async Task BootCountingNamesGetDistinctShortNamesAndReadBackWithMtools(FatType type)
    {
        using var volume = Writable(await BuildAsync(type));
        var editor = FatVolumeEditor.Open(volume, Stamp);
        string[] names = ["outpost-imgb+1.conf", "outpost-imgb+0-1.conf", "outpost-imgb+2-1.conf", "outpost-imgb.conf", "outpost-imga.conf", "outpost-imgc+1.conf"];
        foreach (var name in names)
        {
            editor.WriteFile($"{Entries}/{name}", Encoding.UTF8.GetBytes($"entry {name}\n"));
        }
        Assert.Equal(names.Append("outpost-imga+3.conf").Order(StringComparer.Ordinal), editor.ListFiles(Entries).Order(StringComparer.Ordinal));

        // OUTPOS~1.CON is the writer's outpost-imga+3.conf: neither that alias nor a case variant may become a second file.
        Assert.Contains("short name", Assert.Throws<FatLayoutException>(() => editor.WriteFile($"{Entries}/OUTPOS~1.CON", [1])).Message);
        Assert.Throws<FatLayoutException>(() => editor.WriteFile($"{Entries}/outpos~1.con", [1]));

        editor.Delete($"{Entries}/outpost-imgb+1.conf");
        editor.WriteFile($"{Entries}/outpost-imgb+0.conf", "entry outpost-imgb+0.conf\n"u8);
        var expected = names.Where(n => n != "outpost-imgb+1.conf").Append("outpost-imgb+0.conf").Append("outpost-imga+3.conf").ToList();

        var image = _temp.File("entries.img");
        File.WriteAllBytes(image, volume.ToArray());
        var listing = ExternalTool.RunOk("mdir", "-i", image, $"::/{Entries}").StdOut;
        var shortNames = new List<string>();
        foreach (var name in expected)
        {
            var line = listing.Split('\n').Single(l => l.TrimEnd().EndsWith(" " + name, StringComparison.Ordinal));
            var match = Regex.Match(line, @"^(\S+)\s+(\S+)\s+\d+");
            Assert.True(match.Success, line);
            shortNames.Add(match.Groups[1].Value + "." + match.Groups[2].Value);
            var copy = _temp.File("copy-" + name);
            ExternalTool.RunOk("mcopy", "-n", "-i", image, $"::/{Entries}/{name}", copy);
            var content = name == "outpost-imga+3.conf" ? Entry("imga") : Encoding.UTF8.GetBytes($"entry {name}\n");
            Assert.Equal(content, File.ReadAllBytes(copy));
        }
        Assert.Equal(shortNames.Count, shortNames.Distinct().Count());
        Assert.All(shortNames, s => Assert.Matches(@"^OUTPOS~\d\.CON$", s));
        AssertFsckClean(volume.ToArray());
    }

    [Fact]
    public async Task ReplacingNeverWritesTheOldClustersAndTouchesTheOldChainOnlyAfterTheEntrySwitch()
    {
        var image = await BuildAsync(FatType.Fat32);
        var geometry = Geometry.Of(image, FatType.Fat32);
        const string path = "outpost/IMGA/vmlinuz";
        var oldChain = geometry.Chain(image, InfoOf(image, path).FirstCluster);
        Assert.Equal(10, oldChain.Count); // 5000 bytes in 512-byte clusters
        var replacement = Deterministic(7_000, seed: 8);

        var recording = new RecordingStream(Writable(image));
        FatVolumeEditor.Open(recording).WriteFile(path, replacement);
        var writes = recording.Writes;

        // The entry switch is the write after which the file reads as the new content.
        int switchIndex = Enumerable.Range(0, writes.Count).First(k =>
            FatVolumeReader.Open(Writable(image).With(writes.Take(k + 1))).ReadFile(path).AsSpan().SequenceEqual(replacement));
        var entrySwitch = writes[switchIndex];
        Assert.Equal(32, entrySwitch.Data.Length);

        foreach (var write in writes)
        {
            foreach (uint cluster in oldChain)
            {
                Assert.False(write.Overlaps(geometry.ClusterOffset(cluster), geometry.ClusterSize), $"a write at {write.Offset} overwrote old cluster {cluster}");
            }
        }
        foreach (var write in writes.Take(switchIndex))
        {
            for (int copy = 0; copy < geometry.FatCount; copy++)
            {
                foreach (uint cluster in oldChain)
                {
                    var (offset, length) = geometry.FatEntry(copy, cluster);
                    bool changes = write.Overlaps(offset, length) && !write.Data.AsSpan((int)(offset - write.Offset), length).SequenceEqual(image.AsSpan((int)offset, length));
                    Assert.False(changes, $"the FAT entry of old cluster {cluster} changed before the entry switch");
                }
            }
        }

        // Barriers: new data and chain are flushed before the switch, the switch before the old chain is freed.
        int switchEvent = recording.Events.IndexOf(entrySwitch);
        Assert.IsType<RecordingStream.Flushed>(recording.Events[switchEvent - 1]);
        Assert.IsType<RecordingStream.Flushed>(recording.Events[switchEvent + 1]);
        Assert.IsType<RecordingStream.Flushed>(recording.Events[^1]);
        var after = Writable(image).With(writes).ToArray();
        for (int copy = 0; copy < geometry.FatCount; copy++)
        {
            Assert.All(oldChain, c => Assert.Equal(0u, geometry.Value(after, copy, c)));
        }
    }

    [Fact]
    public async Task RewritingTheSameContentOrDeletingAMissingFileWritesNothing()
    {
        var image = await BuildAsync(FatType.Fat16);
        var recording = new RecordingStream(Writable(image));
        var editor = FatVolumeEditor.Open(recording);
        editor.WriteFile("EFI/BOOT/BOOTX64.EFI", Deterministic(70_000, seed: 1));
        editor.WriteFile("empty", []);
        editor.Delete($"{Entries}/missing.conf");
        editor.Delete("missing/dir/file");
        Assert.Empty(recording.Events);
    }

    [Fact]
    public async Task AReadOnlyStreamServesReadsAndRefusesChanges()
    {
        var image = await BuildAsync(FatType.Fat12);
        var editor = FatVolumeEditor.Open(new RecordingStream(new MemoryStream(image, writable: false), writable: false));
        Assert.Equal(Entry("imga"), editor.ReadFile($"{Entries}/outpost-imga+3.conf"));
        editor.Delete("missing");
        Assert.Throws<NotSupportedException>(() => editor.WriteFile("new", [1]));
        Assert.Throws<NotSupportedException>(() => editor.Delete("server"));
    }

    [Fact]
    public async Task AFullVolumeOrFixedRootIsATypedErrorAndNothingIsWritten()
    {
        var image = await BuildAsync(FatType.Fat12);
        using var volume = Writable(image);
        var recording = new RecordingStream(volume);
        var editor = FatVolumeEditor.Open(recording);
        var tooBig = Assert.Throws<FatLayoutException>(() => editor.WriteFile("big.bin", new byte[5 * MiB]));
        Assert.Contains("free clusters", tooBig.Message);
        Assert.Empty(recording.Events);

        // Replacing needs room for the new content while the old one still exists.
        editor.WriteFile("half.bin", Deterministic((int)(2.5 * MiB), seed: 9));
        recording.Events.Clear();
        Assert.Throws<FatLayoutException>(() => editor.WriteFile("half.bin", Deterministic((int)(2.5 * MiB), seed: 10)));
        Assert.Empty(recording.Events);
        editor.Delete("half.bin");

        // The FAT12/16 root is a fixed region of 512 entries and cannot grow.
        int written = 0;
        var full = Assert.Throws<FatLayoutException>(() =>
        {
            for (; written < 600; written++)
            {
                editor.WriteFile($"F{written}.TXT", []);
            }
        });
        Assert.Contains("root directory", full.Message);
        Assert.InRange(written, 490, 512);
        recording.Events.Clear();
        Assert.Throws<FatLayoutException>(() => editor.WriteFile("F999.TXT", [1, 2, 3]));
        Assert.Empty(recording.Events);
        AssertFsckClean(volume.ToArray());
    }

    [Fact]
    public async Task ADirectoryThatIsAClusterChainGrowsWhenItIsFull()
    {
        using var volume = Writable(await BuildAsync(FatType.Fat32));
        var editor = FatVolumeEditor.Open(volume, Stamp);
        var model = new Dictionary<string, byte[]>(BaseFiles());
        for (int i = 0; i < 40; i++)
        {
            // 16 entries fit a 512-byte cluster; each of these takes 4 or 5.
            string path = $"{Entries}/outpost entry with a long descriptive name {i}.conf";
            model[path] = Encoding.UTF8.GetBytes($"entry {i}");
            editor.WriteFile(path, model[path]);
        }
        AssertVolumeHolds(volume, model);
        var image = volume.ToArray();
        var geometry = Geometry.Of(image, FatType.Fat32);
        Assert.True(geometry.Chain(image, InfoOf(image, Entries).FirstCluster).Count >= 10);
        AssertFsckClean(image);
    }

    // ---- power cuts ----

    public static TheoryData<FatType, string> CrashScenarios()
    {
        var data = new TheoryData<FatType, string>();
        foreach (var type in new[] { FatType.Fat12, FatType.Fat16, FatType.Fat32 })
        {
            foreach (var scenario in new[] { "replace-bigger", "replace-smaller", "replace-empty", "create", "create-in-new-directories", "delete" })
            {
                data.Add(type, scenario);
            }
        }
        data.Add(FatType.Fat32, "create-growing-the-directory");
        return data;
    }

    /// <summary>
    /// Records one change, then cuts power after every prefix of its writes (and, within each flush epoch, after every
    /// subset of that epoch's writes, as a disk cache may reorder them): the file must read as exactly the old or
    /// exactly the new content, everything else unchanged, and the editor must still work on the cut volume.
    /// </summary>
    [Theory]
    [MemberData(nameof(CrashScenarios))]
    public async Task APowerCutAtAnyWriteLeavesTheOldOrTheNewFile(FatType type, string scenario)
    {
        var image = await BuildAsync(type);
        var model = new Dictionary<string, byte[]>(BaseFiles());
        if (scenario == "create-growing-the-directory")
        {
            // Fill loader/entries' only 512-byte cluster to 14 of 16 slots, so a 3-slot entry must grow it.
            using var setup = Writable(image);
            var pre = FatVolumeEditor.Open(setup);
            foreach (var name in new[] { "outpost-imgb+1.conf", "outpost-imgb+2.conf", "outpost-imgb+3.conf" })
            {
                model[$"{Entries}/{name}"] = Entry(name);
                pre.WriteFile($"{Entries}/{name}", model[$"{Entries}/{name}"]);
            }
            image = setup.ToArray();
        }
        var (target, before, after) = scenario switch
        {
            "replace-bigger" => ($"{Entries}/outpost-imga+3.conf", model[$"{Entries}/outpost-imga+3.conf"], Deterministic(12_345, seed: 11)),
            "replace-smaller" => ("outpost/IMGA/vmlinuz", model["outpost/IMGA/vmlinuz"], Deterministic(999, seed: 12)),
            "replace-empty" => ("server", model["server"], []),
            "create" => ($"{Entries}/outpost-imgb+0-1.conf", null, Entry("imgb")),
            "create-in-new-directories" => ("EFI/Linux/outpost/imgb.efi", null, Deterministic(6_000, seed: 13)),
            "delete" => ("outpost/IMGA/vmlinuz", model["outpost/IMGA/vmlinuz"], null),
            "create-growing-the-directory" => ($"{Entries}/outpost-imgb+0.conf", null, Entry("imgb")),
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        };
        byte[]? Read(FatVolumeReader reader) =>
            reader.ListAll().Any(e => e.Path == target) ? reader.ReadFile(target) : null;

        var recording = new RecordingStream(Writable(image));
        var editor = FatVolumeEditor.Open(recording, Stamp);
        if (after is null)
        {
            editor.Delete(target);
        }
        else
        {
            editor.WriteFile(target, after);
        }
        var writes = recording.Writes;
        Assert.NotEmpty(writes);
        Assert.IsType<RecordingStream.Flushed>(recording.Events[^1]);

        // The change becomes visible in one 32-byte write, between two barriers.
        int visible = Enumerable.Range(1, writes.Count).First(k => Same(Read(FatVolumeReader.Open(Writable(image).With(writes.Take(k)))), after)) - 1;
        Assert.Equal(32, writes[visible].Data.Length);
        int visibleEvent = recording.Events.IndexOf(writes[visible]);
        Assert.True(visible == 0 || recording.Events[visibleEvent - 1] is RecordingStream.Flushed, "no flush before the write that makes the change visible");
        Assert.IsType<RecordingStream.Flushed>(recording.Events[visibleEvent + 1]);

        int states = 0;
        foreach (var cut in CrashStates(image, recording))
        {
            states++;
            var reader = FatVolumeReader.Open(cut);
            var found = Read(reader);
            Assert.True(Same(found, before) || Same(found, after), $"after a cut the file is neither old nor new ({found?.Length} bytes)");
            foreach (var (path, content) in model.Where(m => m.Key != target))
            {
                Assert.True(content.AsSpan().SequenceEqual(reader.ReadFile(path)), $"a cut changed '{path}'");
            }

            // The editor keeps working on what the cut left (leaked clusters included) and never reuses live clusters.
            var survivor = FatVolumeEditor.Open(cut);
            var expected = model.Where(m => m.Key != target).ToDictionary();
            expected[$"{Entries}/after-the-cut.conf"] = Deterministic(3_000, seed: 14);
            expected[target] = Deterministic(1_500, seed: 15);
            survivor.WriteFile($"{Entries}/after-the-cut.conf", expected[$"{Entries}/after-the-cut.conf"]);
            survivor.WriteFile(target, expected[target]);
            AssertVolumeHolds(cut, expected);
        }
        Assert.True(states > writes.Count);

        AssertFsckClean(Writable(image).With(writes).ToArray());
    }

    private static bool Same(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    private static IEnumerable<OverlayStream> CrashStates(byte[] original, RecordingStream recording)
    {
        var writes = recording.Writes;
        for (int k = 0; k <= writes.Count; k++)
        {
            yield return Writable(original).With(writes.Take(k));
        }
        var landed = new List<RecordingStream.Written>();
        var random = new Random(42);
        foreach (var epoch in recording.Epochs())
        {
            if (epoch.Count > 1)
            {
                int all = (1 << Math.Min(epoch.Count, 20)) - 1;
                var masks = epoch.Count <= 5 ? Enumerable.Range(1, all - 1) : Enumerable.Range(0, 24).Select(_ => random.Next(1, all));
                foreach (int mask in masks)
                {
                    yield return Writable(original).With(landed.Concat(epoch.Where((_, i) => i < 20 && (mask & (1 << i)) != 0)));
                }
            }
            landed.AddRange(epoch);
        }
    }

    // ---- properties ----

    private static readonly string[] PropertyPaths =
    [
        $"{Entries}/outpost-imga+3.conf",
        $"{Entries}/outpost-imgb+1.conf",
        $"{Entries}/outpost-imgb+0-1.conf",
        $"{Entries}/outpost-imgb+2-1.conf",
        $"{Entries}/outpost-imgb.conf",
        .. Enumerable.Range(1, 8).Select(i => $"{Entries}/an entry with a rather long name that takes five slots {i}.conf"),
        "EFI/Linux/outpost-imgb.efi",
        "EFI/BOOT/BOOTX64.EFI",
        "README.TXT",
        "server",
    ];

    [Fact]
    public async Task RandomCreatesReplacesAndDeletesMatchADictionaryModel()
    {
        var image = await BuildAsync(FatType.Fat12);
        var operation = Gen.Select(Gen.Int[0, PropertyPaths.Length - 1], Gen.Int[0, 3], Gen.Int[0, 9_000], Gen.Int, Gen.Bool);
        operation.Array[1, 25].Sample(operations =>
        {
            using var volume = Writable(image);
            var editor = FatVolumeEditor.Open(volume, Stamp);
            // Keyed case-insensitively like FAT; the value keeps the name as first created.
            var model = BaseFiles().ToDictionary(f => f.Key, f => (Path: f.Key, Content: f.Value), StringComparer.OrdinalIgnoreCase);
            foreach (var (index, kind, length, seed, upper) in operations)
            {
                string path = PropertyPaths[index];
                if (upper)
                {
                    path = DirectoryOf(path) + "/" + NameOf(path).ToUpperInvariant();
                    path = path.TrimStart('/');
                }
                if (kind == 0)
                {
                    editor.Delete(path);
                    model.Remove(path);
                    Assert.False(editor.Exists(path));
                }
                else
                {
                    var content = Deterministic(length, seed);
                    editor.WriteFile(path, content);
                    model[path] = (model.TryGetValue(path, out var existing) ? existing.Path : path, content);
                    Assert.True(content.AsSpan().SequenceEqual(editor.ReadFile(path)));
                }
            }
            AssertVolumeHolds(volume, model.Values.ToDictionary(v => v.Path, v => v.Content));
        }, iter: 150);
    }

    private static readonly Type[] TypedErrors = [typeof(FatLayoutException), typeof(FileNotFoundException), typeof(DirectoryNotFoundException)];

    /// <summary>Runs every editor operation on a (damaged) volume, accepting only the typed errors.</summary>
    private static void ExerciseDamaged(Stream volume)
    {
        void Try(Action action)
        {
            try
            {
                action();
            }
            catch (Exception e) when (TypedErrors.Contains(e.GetType()))
            {
            }
        }
        FatVolumeEditor? editor = null;
        Try(() => editor = FatVolumeEditor.Open(volume));
        if (editor is null)
        {
            return;
        }
        foreach (var directory in new[] { "", "loader", Entries, "EFI/BOOT", "outpost/IMGA" })
        {
            Try(() => editor.ListFiles(directory));
        }
        foreach (var path in BaseFiles().Keys)
        {
            Try(() => editor.Exists(path));
            Try(() => editor.ReadFile(path));
        }
        Try(() => editor.WriteFile($"{Entries}/outpost-imgb+1.conf", Deterministic(3_000, seed: 16)));
        Try(() => editor.WriteFile("EFI/BOOT/BOOTX64.EFI", Deterministic(2_000, seed: 17)));
        Try(() => editor.Delete($"{Entries}/outpost-imga+3.conf"));
        Try(() => editor.Delete("outpost/IMGA/vmlinuz"));
        Try(() => editor.ReadFile($"{Entries}/outpost-imgb+1.conf"));
    }

    [Theory]
    [InlineData(FatType.Fat12)]
    [InlineData(FatType.Fat32)]
    public async Task DamagedFatsAndDirectoriesGiveOnlyTypedErrors(FatType type)
    {
        var image = await BuildAsync(type);
        var geometry = Geometry.Of(image, type);
        // Where damage matters: the used start of the first FAT, the root directory, every subdirectory's first cluster.
        var regions = new List<(long Offset, int Length)> { (geometry.FatOffset, 1024) };
        regions.Add(type == FatType.Fat32 ? (geometry.ClusterOffset(2), geometry.ClusterSize) : (geometry.DataOffset - 512 * 32, 1024));
        regions.AddRange(FatVolumeReader.Open(new MemoryStream(image)).ListAll().Where(e => e.IsDirectory)
            .Select(e => (geometry.ClusterOffset(e.FirstCluster), geometry.ClusterSize)));
        var flip = Gen.Select(Gen.Int[0, regions.Count - 1], Gen.Int[0, int.MaxValue], Gen.Byte[1, 255]);
        flip.Array[1, 12].Sample(flips =>
        {
            var damaged = Writable(image);
            foreach (var (region, position, mask) in flips)
            {
                var (offset, length) = regions[region];
                damaged.Flip(offset + position % length, mask);
            }
            ExerciseDamaged(damaged);
        }, iter: 300);
    }

    [Fact]
    public async Task DamagedBootSectorsGiveOnlyTypedErrors()
    {
        var image = await BuildAsync(FatType.Fat12);
        Gen.Select(Gen.Int[0, 89], Gen.Byte[1, 255]).Array[1, 4].Sample(flips =>
        {
            var damaged = Writable(image);
            foreach (var (position, mask) in flips)
            {
                damaged.Flip(position, mask);
            }
            ExerciseDamaged(damaged);
        }, iter: 400);
    }

    [Fact]
    public async Task LoopsOutOfRangeClustersAndTruncatedVolumesAreTypedErrors()
    {
        var image = await BuildAsync(FatType.Fat16);
        var geometry = Geometry.Of(image, FatType.Fat16);
        var chain = geometry.Chain(image, InfoOf(image, "outpost/IMGA/vmlinuz").FirstCluster);

        var looped = (byte[])image.Clone();
        Assert.Equal(3, chain.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(looped.AsSpan((int)geometry.FatEntry(0, chain[1]).Offset), (ushort)chain[0]);
        var loop = Assert.Throws<FatLayoutException>(() => FatVolumeEditor.Open(Writable(looped)).ReadFile("outpost/IMGA/vmlinuz"));
        Assert.Contains("loops", loop.Message);
        // The reader agrees, and a file whose chain is damaged can still be replaced (its clusters are leaked, not freed).
        Assert.Throws<FatLayoutException>(() => FatVolumeReader.Open(new MemoryStream(looped)).ReadFile("outpost/IMGA/vmlinuz"));
        using (var repaired = Writable(looped))
        {
            FatVolumeEditor.Open(repaired).WriteFile("outpost/IMGA/vmlinuz", [1, 2, 3]);
            Assert.Equal([1, 2, 3], FatVolumeReader.Open(repaired).ReadFile("outpost/IMGA/vmlinuz"));
        }

        var outOfRange = (byte[])image.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(outOfRange.AsSpan((int)geometry.FatEntry(0, chain[0]).Offset), 0xFFF0);
        Assert.Throws<FatLayoutException>(() => FatVolumeEditor.Open(Writable(outOfRange)).ReadFile("outpost/IMGA/vmlinuz"));

        var freeInChain = (byte[])image.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(freeInChain.AsSpan((int)geometry.FatEntry(0, chain[1]).Offset), 0);
        Assert.Throws<FatLayoutException>(() => FatVolumeEditor.Open(Writable(freeInChain)).ReadFile("outpost/IMGA/vmlinuz"));

        var noSignature = (byte[])image.Clone();
        noSignature[510] = 0;
        Assert.Throws<FatLayoutException>(() => FatVolumeEditor.Open(Writable(noSignature)));
        Assert.Throws<FatLayoutException>(() => FatVolumeEditor.Open(Writable(image[..(image.Length / 2)])));
        Assert.Throws<FatLayoutException>(() => FatVolumeEditor.Open(Writable(image[..100])));
    }

    // ---- volumes made by mkfs.vfat ----

    [Theory]
    [InlineData(12, 2048)]
    [InlineData(16, 16384)]
    [InlineData(32, 40960)]
    public void EditsOfAMkfsVolumeAreCleanForFsck(int fatBits, int kib)
    {
        var path = _temp.File($"mkfs{fatBits}.img");
        var arguments = new List<string> { "-C", "-F", fatBits.ToString(), "-n", "ESP" };
        if (fatBits == 32)
        {
            arguments.AddRange(["-S", "512", "-s", "1"]);
        }
        ExternalTool.RunOk("mkfs.vfat", [.. arguments, path, kib.ToString()]);

        var model = new Dictionary<string, byte[]>();
        using (var volume = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            var editor = FatVolumeEditor.Open(volume, Stamp);
            Assert.Equal((FatType)fatBits, editor.Type);
            void Write(string file, byte[] content)
            {
                model[file] = content;
                editor.WriteFile(file, content);
            }
            Write("EFI/BOOT/BOOTX64.EFI", Deterministic(150_000, seed: 20));
            Write("loader/loader.conf", "timeout 3\n"u8.ToArray());
            Write($"{Entries}/outpost-imga+3.conf", Entry("imga"));
            Write($"{Entries}/outpost-imgb+1.conf", Entry("imgb"));
            Write("outpost/IMGA/vmlinuz", Deterministic(300_000, seed: 21));
            Write("outpost/IMGB/vmlinuz", Deterministic(200_000, seed: 22));
            for (int i = 0; i < 70; i++)
            {
                Write($"{Entries}/outpost entry with a long descriptive name {i}.conf", Encoding.UTF8.GetBytes($"entry {i}"));
            }
            Write($"{Entries}/outpost-imgb+1.conf", Deterministic(9_000, seed: 23));
            Write("outpost/IMGA/vmlinuz", Deterministic(100_000, seed: 24));
            foreach (var gone in new[] { $"{Entries}/outpost-imga+3.conf", "outpost/IMGB/vmlinuz", $"{Entries}/outpost entry with a long descriptive name 7.conf" })
            {
                editor.Delete(gone);
                model.Remove(gone);
            }
            Write($"{Entries}/outpost-imga+2-1.conf", Entry("imga"));
            AssertVolumeHolds(volume, model);
        }
        var fsck = ExternalTool.Run("fsck.vfat", "-n", "-v", path);
        Assert.True(fsck.ExitCode == 0, fsck.All);
        Assert.DoesNotContain("Free cluster summary wrong", fsck.All);
        Assert.Equal(Entry("imga"), Encoding.UTF8.GetBytes(ExternalTool.RunOk("mtype", "-i", path, $"::/{Entries}/outpost-imga+2-1.conf").StdOut));
    }
}
