using System.Security.Cryptography;
using System.Text;
using Outpost.Disk.Fat;

namespace Outpost.Disk.Tests.Fat;

public sealed class FatWriterTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private static readonly DateTime Stamp = new(2024, 5, 17, 12, 30, 44);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Paths and contents covering 8.3 names, long names, shared basis names, nesting, empty and multi-cluster files.</summary>
    private static SortedDictionary<string, byte[]> SampleFiles()
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["server"] = "zedcloud.example.com:443\n"u8.ToArray(),
            ["root-certificate.pem"] = Encoding.ASCII.GetBytes("-----BEGIN CERTIFICATE-----\n" + new string('A', 1500) + "\n"),
            ["EFI/BOOT/BOOTX64.EFI"] = Deterministic(70_000, seed: 1),
            ["EFI/BOOT/grub.cfg"] = "set root=(hd0,gpt2)\n"u8.ToArray(),
            ["DevicePortConfig/override.json"] = "{\"Version\":1}"u8.ToArray(),
            ["A very long file name, with spaces and more than 26 characters.txt"] = "long"u8.ToArray(),
            ["long name one.txt"] = "1"u8.ToArray(),
            ["long name two.txt"] = "2"u8.ToArray(),
            ["empty"] = [],
            ["remote_access_disabled"] = [],
        };
        for (int i = 0; i < 40; i++)
        {
            files[$"many/file number {i:D2}.data"] = Encoding.ASCII.GetBytes($"content {i}");
        }
        return files;
    }

    private static byte[] Deterministic(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task<string> BuildAsync(long size, string name = "vol.img", FatType? type = null)
    {
        var root = FatDirectory.CreateRoot();
        foreach (var (path, content) in SampleFiles())
        {
            root.AddFile(path, content);
        }
        root.AddDirectory("empty-dir");
        var image = _temp.File(name);
        await using var output = File.Create(image);
        await FatWriter.WriteAsync(output, root, new FatVolumeOptions(size, "eve", Stamp, 0x1234ABCD) { Type = type });
        return image;
    }

    [Theory]
    [InlineData(5, "FAT12")]
    [InlineData(20, "FAT16")]
    [InlineData(64, "FAT32")]
    public async Task VolumeOfEachSizeIsCleanForFsckAndHasTheExpectedType(int sizeMiB, string expectedType)
    {
        var image = await BuildAsync(sizeMiB * MiB);
        Assert.Equal(sizeMiB * MiB, new FileInfo(image).Length);

        var fsck = ExternalTool.Run("fsck.fat", "-n", "-v", image);
        Assert.True(fsck.ExitCode == 0, fsck.All);
        Assert.Contains($"{expectedType[3..]} bit entries", fsck.All);
        Assert.DoesNotContain("Free cluster summary wrong", fsck.All);

        var blkid = ExternalTool.RunOk("blkid", "-p", image).StdOut;
        Assert.Contains("TYPE=\"vfat\"", blkid);
        Assert.Contains("LABEL=\"EVE\"", blkid);
        Assert.Contains($"VERSION=\"{expectedType}\"", blkid);
        Assert.Contains("UUID=\"1234-ABCD\"", blkid);
    }

    [Fact]
    public async Task MtoolsListsEveryLongNameAndReadsEveryFileByteExact()
    {
        var image = await BuildAsync(5 * MiB);
        var listing = ExternalTool.RunOk("mdir", "-i", image, "-/", "::").StdOut;
        // BOOTX64.EFI is a plain 8.3 name, stored without a long name; another test checks it.
        foreach (var path in SampleFiles().Keys.Where(p => p != "EFI/BOOT/BOOTX64.EFI"))
        {
            Assert.Contains(Path.GetFileName(path), listing);
        }
        Assert.Contains("empty-dir", listing);

        int index = 0;
        foreach (var (path, content) in SampleFiles())
        {
            var copy = _temp.File($"out{index++}");
            ExternalTool.RunOk("mcopy", "-n", "-i", image, "::/" + path, copy);
            Assert.True(content.AsSpan().SequenceEqual(File.ReadAllBytes(copy)), $"{path} read back by mcopy differs");
        }
    }

    [Fact]
    public async Task Fat32VolumeReadsBackByteExactWithMtype()
    {
        var image = await BuildAsync(64 * MiB);
        var text = ExternalTool.RunOk("mtype", "-i", image, "::/EFI/BOOT/grub.cfg").StdOut;
        Assert.Equal("set root=(hd0,gpt2)\n", text);
        var copy = _temp.File("bootx64");
        ExternalTool.RunOk("mcopy", "-n", "-i", image, "::/EFI/BOOT/BOOTX64.EFI", copy);
        Assert.Equal(Deterministic(70_000, seed: 1), File.ReadAllBytes(copy));
    }

    [Fact]
    public async Task ShortNamesAreUniqueAndValidNamesNeedNoLongEntry()
    {
        var image = await BuildAsync(5 * MiB);
        var listing = ExternalTool.RunOk("mdir", "-i", image, "::").StdOut;
        Assert.Contains("LONGNA~1 TXT", listing);
        Assert.Contains("LONGNA~2 TXT", listing);
        var boot = ExternalTool.RunOk("mdir", "-i", image, "::/EFI/BOOT").StdOut;
        Assert.Matches(@"BOOTX64\s+EFI\s+70000", boot);
    }

    [Fact]
    public async Task SameInputGivesIdenticalBytes()
    {
        var first = await BuildAsync(20 * MiB, "a.img");
        var second = await BuildAsync(20 * MiB, "b.img");
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(first)), SHA256.HashData(File.ReadAllBytes(second)));
    }

    [Fact]
    public async Task OwnReaderListsAndReadsWhatTheWriterWrote()
    {
        var image = await BuildAsync(64 * MiB);
        await using var volume = File.OpenRead(image);
        var reader = FatVolumeReader.Open(volume);
        Assert.Equal(FatType.Fat32, reader.Type);
        Assert.Equal("EVE", reader.Label);
        var listed = reader.ListAll().Where(e => !e.IsDirectory).Select(e => e.Path).Order(StringComparer.Ordinal);
        Assert.Equal(SampleFiles().Keys, listed);
        foreach (var (path, content) in SampleFiles())
        {
            Assert.Equal(content, reader.ReadFile(path));
        }
    }

    [Fact]
    public async Task OwnReaderReadsAVolumeMadeByMkfsAndMcopy()
    {
        var image = _temp.File("mkfs.img");
        ExternalTool.RunOk("mkfs.fat", "-C", "-n", "CONF", image, "5120");
        var source = _temp.File("Some Long Name.json");
        File.WriteAllText(source, "{}");
        ExternalTool.RunOk("mmd", "-i", image, "::/sub dir");
        ExternalTool.RunOk("mcopy", "-i", image, source, "::/sub dir/");
        await using var volume = File.OpenRead(image);
        var reader = FatVolumeReader.Open(volume);
        Assert.Equal(FatType.Fat12, reader.Type);
        Assert.Equal("{}"u8.ToArray(), reader.ReadFile("sub dir/Some Long Name.json"));
    }

    [Fact]
    public async Task ContentLargerThanTheVolumeIsRejected()
    {
        var root = FatDirectory.CreateRoot();
        root.AddFile("big.bin", 2 * MiB, () => new MemoryStream(new byte[2 * MiB]));
        var error = await Assert.ThrowsAsync<FatLayoutException>(() =>
            FatWriter.WriteAsync(Stream.Null, root, new FatVolumeOptions(1 * MiB, "X", Stamp, 1)));
        Assert.Contains("does not fit", error.Message);
    }

    [Fact]
    public async Task ContentShorterThanDeclaredIsRejected()
    {
        var root = FatDirectory.CreateRoot();
        root.AddFile("liar.bin", 100, () => new MemoryStream(new byte[10]));
        var error = await Assert.ThrowsAsync<FatLayoutException>(() =>
            FatWriter.WriteAsync(new MemoryStream(), root, new FatVolumeOptions(1 * MiB, "X", Stamp, 1)));
        Assert.Contains("declared as 100 bytes", error.Message);
    }

    [Fact]
    public void NamesDifferingOnlyInCaseAreRejected()
    {
        var root = FatDirectory.CreateRoot();
        root.AddFile("Server", [1]);
        Assert.Throws<FatLayoutException>(() => root.AddFile("server", [2]));
    }
}
