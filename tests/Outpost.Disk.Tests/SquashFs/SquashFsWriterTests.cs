using System.Security.Cryptography;
using System.Text;
using Outpost.Disk.SquashFs;

namespace Outpost.Disk.Tests.SquashFs;

public sealed class SquashFsWriterTests : IDisposable
{
    private const uint Epoch = 1_715_949_044; // 2024-05-17 12:30:44 UTC
    private static readonly string LongName = new string('n', 250) + ".conf";
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Regular files of the sample tree with their content.</summary>
    private static SortedDictionary<string, byte[]> SampleFiles()
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["etc/hostname"] = "outpost\n"u8.ToArray(),
            ["big/random.bin"] = Random(1024 * 1024 + 1234, seed: 7),
            ["big/zeros.bin"] = new byte[300 * 1024],
            ["big/exactly-one-block.bin"] = Random(128 * 1024, seed: 8),
            ["empty"] = [],
            ["a/b/c/d/e/deep.txt"] = "deep"u8.ToArray(),
            ["etc/" + LongName] = "long"u8.ToArray(),
            ["usr/bin/su"] = "setuid"u8.ToArray(),
        };
        for (int i = 0; i < 300; i++)
        {
            files[$"many/entry-with-a-reasonably-long-name-{i:D3}"] = Encoding.ASCII.GetBytes($"file {i}\n");
        }
        return files;
    }

    private static List<SquashFsEntry> SampleEntries()
    {
        var entries = new List<SquashFsEntry>
        {
            SquashFsEntry.Directory("/", modificationTime: Epoch),
            SquashFsEntry.Directory("etc", 0b111_101_101, 0, 0, Epoch),
            SquashFsEntry.Directory("tmp", 0b1_111_111_111, 0, 0, Epoch),
            SquashFsEntry.Symlink("bin/sh", "busybox", modificationTime: Epoch),
            SquashFsEntry.Symlink("lib64", "/lib", modificationTime: Epoch),
            SquashFsEntry.Device("dev/null", SquashFsEntryType.CharDevice, 1, 3, modificationTime: Epoch),
            SquashFsEntry.Device("dev/sda", SquashFsEntryType.BlockDevice, 8, 0, 0b110_110_000, 0, 6, Epoch),
            SquashFsEntry.Device("dev/big-minor", SquashFsEntryType.CharDevice, 240, 300, modificationTime: Epoch),
            new SquashFsEntry("run/initctl", SquashFsEntryType.Fifo, 0b110_000_000, 0, 0, Epoch),
        };
        foreach (var (path, content) in SampleFiles())
        {
            int mode = path == "usr/bin/su" ? 0b100_111_101_101 : 0b110_100_100;
            uint owner = path.StartsWith("big/", StringComparison.Ordinal) ? 1000u : 0u;
            entries.Add(SquashFsEntry.File(path, content, mode, owner, owner == 0 ? 0 : 100u, Epoch));
        }
        return entries;
    }

    private async Task<string> BuildAsync(string name = "root.squashfs", IEnumerable<SquashFsEntry>? entries = null)
    {
        var image = _temp.File(name);
        await using var output = File.Create(image);
        long size = await SquashFsWriter.WriteAsync(output, entries ?? SampleEntries(), new SquashFsOptions(Epoch));
        Assert.Equal(size, output.Length);
        Assert.Equal(0, size % 4096);
        return image;
    }

    [Fact]
    public async Task UnsquashfsListsEveryEntryWithModesOwnersAndLinkTargets()
    {
        var image = await BuildAsync();
        var listing = ExternalTool.RunOk("unsquashfs", "-lln", image).StdOut;
        var lines = listing.Split('\n');

        string Line(string path) => lines.SingleOrDefault(l => l.EndsWith("squashfs-root/" + path, StringComparison.Ordinal) || l.Contains("squashfs-root/" + path + " -> "))
            ?? throw new Xunit.Sdk.XunitException($"'{path}' is missing from the unsquashfs listing:\n{listing}");

        foreach (var path in SampleFiles().Keys)
        {
            Line(path);
        }
        Assert.StartsWith("lrwxrwxrwx 0/0", Line("bin/sh"));
        Assert.EndsWith("bin/sh -> busybox", Line("bin/sh"));
        Assert.EndsWith("lib64 -> /lib", Line("lib64"));
        Assert.Matches(@"^crw-rw-rw- 0/0\s+1,\s+3 ", Line("dev/null"));
        Assert.Matches(@"^brw-rw---- 0/6\s+8,\s+0 ", Line("dev/sda"));
        // unsquashfs's listing shows a minor above 255 lossily; the extraction test checks it.
        Line("dev/big-minor");
        Assert.StartsWith("prw------- 0/0", Line("run/initctl"));
        Assert.StartsWith("drwxrwxrwt 0/0", Line("tmp"));
        Assert.StartsWith("-rwsr-xr-x 0/0", Line("usr/bin/su"));
        Assert.Matches(@"^-rw-r--r-- 1000/100\s+1049810 2024-05-17 ", Line("big/random.bin"));
        Assert.Matches(@"^drwxr-xr-x 0/0 .* 2024-05-17 12:30 squashfs-root/a/b/c/d$", Line("a/b/c/d"));
    }

    [Fact]
    public async Task UnsquashfsExtractsByteIdenticalContent()
    {
        var image = await BuildAsync();
        var output = Path.Combine(_temp.Path, "out");
        ExternalTool.RunOk("unsquashfs", "-d", output, image);
        foreach (var (path, content) in SampleFiles())
        {
            var extracted = File.ReadAllBytes(Path.Combine(output, path));
            Assert.True(content.AsSpan().SequenceEqual(extracted), $"{path}: extracted content differs");
        }
        Assert.Equal("busybox", new FileInfo(Path.Combine(output, "bin/sh")).LinkTarget);
        Assert.Equal(300, Directory.GetFiles(Path.Combine(output, "many")).Length);
        // Device numbers as the kernel decodes them (stat prints major,minor in hex).
        Assert.Equal("1,3", ExternalTool.RunOk("stat", "-c", "%t,%T", Path.Combine(output, "dev/null")).StdOut.Trim());
        Assert.Equal("f0,12c", ExternalTool.RunOk("stat", "-c", "%t,%T", Path.Combine(output, "dev/big-minor")).StdOut.Trim());
    }

    [Fact]
    public async Task SuperblockStatisticsMatchWhatWasWritten()
    {
        var image = await BuildAsync();
        var stats = ExternalTool.RunOk("unsquashfs", "-s", image).StdOut;
        Assert.Contains("gzip", stats);
        Assert.Contains("Block size 131072", stats);
        Assert.Matches(@"Number of inodes \d+", stats);
        Assert.Contains("Xattrs are not stored", stats);
    }

    [Fact]
    public async Task SameInputGivesIdenticalBytes()
    {
        var first = await BuildAsync("a.squashfs");
        var reversed = SampleEntries();
        reversed.Reverse();
        var second = await BuildAsync("b.squashfs", reversed);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(first)), SHA256.HashData(File.ReadAllBytes(second)));
    }

    [Fact]
    public async Task EmptyImageWithOnlyARootIsReadable()
    {
        var image = await BuildAsync("empty.squashfs", []);
        var listing = ExternalTool.RunOk("unsquashfs", "-lln", image).StdOut;
        Assert.Contains("squashfs-root", listing);
    }

    [Fact]
    public async Task DuplicatePathsAreRejected()
    {
        var entries = new[] { SquashFsEntry.File("x", [1]), SquashFsEntry.File("/x", [2]) };
        var error = await Assert.ThrowsAsync<SquashFsFormatException>(() => SquashFsWriter.WriteAsync(new MemoryStream(), entries, new SquashFsOptions(Epoch)));
        Assert.Contains("given twice", error.Message);
    }

    [Fact]
    public async Task AFileUsedAsADirectoryIsRejected()
    {
        var entries = new[] { SquashFsEntry.File("etc", [1]), SquashFsEntry.File("etc/passwd", [2]) };
        await Assert.ThrowsAsync<SquashFsFormatException>(() => SquashFsWriter.WriteAsync(new MemoryStream(), entries, new SquashFsOptions(Epoch)));
    }
}
