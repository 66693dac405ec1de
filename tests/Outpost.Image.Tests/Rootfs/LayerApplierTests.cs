using System.Formats.Tar;
using System.IO.Compression;
using Outpost.Image.Rootfs;

namespace Outpost.Image.Tests.Rootfs;

public sealed class LayerApplierTests
{
    private static async Task<MemoryStream> LayerAsync(bool gzip, params (string Name, TarEntryType Type, string? Content)[] entries)
    {
        var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, type, content) in entries)
            {
                var entry = new PaxTarEntry(type, name);
                if (type == TarEntryType.SymbolicLink || type == TarEntryType.HardLink) entry.LinkName = content!;
                else if (content is not null) entry.DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content));
                await writer.WriteEntryAsync(entry);
            }
        }
        tar.Position = 0;
        if (!gzip) return tar;
        var compressed = new MemoryStream();
        await using (var zip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) await tar.CopyToAsync(zip);
        compressed.Position = 0;
        return compressed;
    }

    [Fact]
    public async Task Whiteout_deletes_a_file_and_opaque_whiteout_empties_a_directory()
    {
        var tree = new FsTree();
        await LayerApplier.ApplyAsync(tree, await LayerAsync(true,
            ("etc/", TarEntryType.Directory, null), ("etc/a", TarEntryType.RegularFile, "a"), ("etc/b", TarEntryType.RegularFile, "b"),
            ("opt/", TarEntryType.Directory, null), ("opt/x/y", TarEntryType.RegularFile, "y")), "lower", default);
        await LayerApplier.ApplyAsync(tree, await LayerAsync(false,
            ("etc/.wh.a", TarEntryType.RegularFile, ""), ("opt/.wh..wh..opq", TarEntryType.RegularFile, ""), ("opt/new", TarEntryType.RegularFile, "n")), "upper", default);

        Assert.Equal(["etc", "etc/b", "opt", "opt/new"], tree.Enumerate().Select(e => e.Path));
        Assert.Equal("upper", tree.Get("opt/new")!.Source);
    }

    [Fact]
    public async Task A_file_replacing_a_directory_drops_its_children_and_hard_links_become_copies()
    {
        var tree = new FsTree();
        await LayerApplier.ApplyAsync(tree, await LayerAsync(false,
            ("d/inner", TarEntryType.RegularFile, "i"), ("f", TarEntryType.RegularFile, "data"), ("link", TarEntryType.HardLink, "f")), "l1", default);
        await LayerApplier.ApplyAsync(tree, await LayerAsync(false, ("d", TarEntryType.RegularFile, "now a file"), ("f", TarEntryType.SymbolicLink, "elsewhere")), "l2", default);

        Assert.Null(tree.Get("d/inner"));
        Assert.Equal(FsEntryType.File, tree.Get("d")!.Type);
        Assert.Equal("data", System.Text.Encoding.UTF8.GetString(tree.Get("link")!.Content.Span));
        Assert.Equal("elsewhere", tree.Get("f")!.LinkTarget);
    }

    [Fact]
    public async Task Path_climbing_out_with_dotdot_is_refused()
    {
        var tree = new FsTree();
        var error = await Assert.ThrowsAsync<ImageBuildException>(async () =>
            await LayerApplier.ApplyAsync(tree, await LayerAsync(false, ("../escape", TarEntryType.RegularFile, "x")), "evil", default));
        Assert.Contains("climbs out of its root", error.Message);
    }
}
