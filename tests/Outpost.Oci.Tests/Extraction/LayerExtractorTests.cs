using System.Formats.Tar;
using System.Text;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction;
using Outpost.Oci.Tests.Infrastructure;

namespace Outpost.Oci.Tests.Extraction;

public sealed class LayerExtractorTests : IDisposable
{
    private readonly TempDirectory _temp = new("extract");

    private string Root => _temp.Sub("root");

    public void Dispose() => _temp.Dispose();

    private Task<ExtractionResult> ExtractAsync(byte[] layer, ExtractionPolicy? policy = null) =>
        LayerExtractor.ExtractAsync(new MemoryStream(layer), Root, policy ?? ExtractionPolicy.Untrusted);

    private string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative));

    [Fact]
    public async Task Gzip_and_plain_tar_layers_extract_the_same_files_and_report_the_diff_id()
    {
        var tar = new LayerBuilder().Dir("etc").File("etc/hostname", "outpost\n").File("bin/tool", "#!/bin/sh\n", (UnixFileMode)0b111_101_101).Tar();

        var gz = await ExtractAsync(LayerBuilder.Gzip(tar));

        Assert.Equal("outpost\n", Read("etc/hostname"));
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(Path.Combine(Root, "bin/tool")));
        Assert.Equal(LayerBuilder.Mtime.UtcDateTime, File.GetLastWriteTimeUtc(Path.Combine(Root, "etc/hostname")));
        Assert.Equal(OciDigest.Compute(tar), gz.DiffId);
        Assert.Equal(3, gz.Entries);
        Directory.Delete(Root, true);
        var plain = await ExtractAsync(tar);
        Assert.Equal(gz.DiffId, plain.DiffId);
        Assert.Equal("outpost\n", Read("etc/hostname"));
    }

    [Fact]
    public async Task Zstd_layer_is_rejected_as_unsupported()
    {
        byte[] zstdFrame = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
        var error = await Assert.ThrowsAsync<UnsupportedContentException>(() => ExtractAsync(zstdFrame));
        Assert.Contains("zstd", error.Message);
    }

    [Fact]
    public async Task Whiteout_deletes_a_file_from_an_earlier_layer()
    {
        await ExtractAsync(new LayerBuilder().File("etc/a", "a").File("etc/b", "b").Tar());
        await ExtractAsync(new LayerBuilder().Whiteout("etc/a").Tar());

        Assert.False(File.Exists(Path.Combine(Root, "etc/a")));
        Assert.False(File.Exists(Path.Combine(Root, "etc/.wh.a")));
        Assert.Equal("b", Read("etc/b"));
    }

    [Fact]
    public async Task Opaque_whiteout_clears_earlier_layers_but_keeps_this_layers_entries()
    {
        await ExtractAsync(new LayerBuilder().File("opt/old1", "1").File("opt/sub/old2", "2").File("keep/x", "x").Tar());
        await ExtractAsync(new LayerBuilder().Dir("opt").File("opt/new", "n").Opaque("opt").Tar());

        Assert.Equal(["new"], Directory.GetFileSystemEntries(Path.Combine(Root, "opt")).Select(Path.GetFileName));
        Assert.Equal("x", Read("keep/x"));
    }

    [Fact]
    public async Task Opaque_whiteout_after_this_layers_files_keeps_their_implicit_parent_directories()
    {
        await ExtractAsync(new LayerBuilder().File("opt/old", "1").Tar());
        await ExtractAsync(new LayerBuilder().File("opt/sub/new", "n").Opaque("opt").Tar());

        Assert.Equal("n", Read("opt/sub/new"));
        Assert.False(File.Exists(Path.Combine(Root, "opt/old")));
    }

    [Fact]
    public async Task Hard_link_to_an_earlier_file_shares_its_content()
    {
        await ExtractAsync(new LayerBuilder().File("bin/busybox", "bb").HardLink("bin/sh", "bin/busybox").Tar());

        Assert.Equal("bb", Read("bin/sh"));
        File.AppendAllText(Path.Combine(Root, "bin/busybox"), "!");
        Assert.Equal("bb!", Read("bin/sh"));
    }

    [Fact]
    public async Task Hard_link_to_a_missing_target_is_rejected()
    {
        var error = await Assert.ThrowsAsync<LayerSecurityException>(() => ExtractAsync(new LayerBuilder().HardLink("x", "nowhere").Tar()));
        Assert.Equal("x", error.EntryName);
    }

    [Fact]
    public async Task Hard_link_through_a_symlink_to_a_host_file_resolves_inside_root()
    {
        // "hostetc -> /etc", then a hard link to hostetc/passwd: it must look for <root>/etc/passwd, which is absent.
        var layer = new LayerBuilder().Symlink("hostetc", "/etc").HardLink("stolen", "hostetc/passwd").Tar();
        await Assert.ThrowsAsync<LayerSecurityException>(() => ExtractAsync(layer));
        Assert.False(File.Exists(Path.Combine(Root, "stolen")));
    }

    [Fact]
    public async Task Symlinks_are_created_verbatim()
    {
        await ExtractAsync(new LayerBuilder().File("bin/busybox", "bb").Symlink("bin/sh", "busybox").Symlink("abs", "/etc/passwd").Tar());

        Assert.Equal("busybox", new FileInfo(Path.Combine(Root, "bin/sh")).LinkTarget);
        Assert.Equal("/etc/passwd", new FileInfo(Path.Combine(Root, "abs")).LinkTarget);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("./../../../tmp/escape")]
    public async Task Entry_climbing_out_with_dotdot_is_rejected_and_names_the_entry(string name)
    {
        var error = await Assert.ThrowsAsync<LayerSecurityException>(() => ExtractAsync(new LayerBuilder().File(name, "x").Tar()));
        Assert.Equal(name, error.EntryName);
        Assert.Contains(name, error.Message);
        Assert.False(File.Exists(Path.Combine(_temp.Path, "escape")));
    }

    [Fact]
    public async Task Entry_with_absolute_name_is_rejected()
    {
        var name = _temp.Sub("absolute-target");
        var error = await Assert.ThrowsAsync<LayerSecurityException>(() => ExtractAsync(new LayerBuilder().File(name, "x").Tar()));
        Assert.Contains("absolute", error.Message);
        Assert.False(File.Exists(name));
    }

    [Fact]
    public async Task Absolute_symlink_cannot_redirect_writes_outside_root()
    {
        // A decoy "host" directory stands in for /etc so the test can see whether anything leaked.
        var hostDir = _temp.Sub("host-etc");
        Directory.CreateDirectory(hostDir);
        File.WriteAllText(Path.Combine(hostDir, "passwd"), "original");

        var layer = new LayerBuilder().Symlink("link", hostDir).File("link/passwd", "owned").Tar();
        await ExtractAsync(layer);

        Assert.Equal("original", File.ReadAllText(Path.Combine(hostDir, "passwd")));
        // The write was re-rooted: <root>/<hostDir>/passwd, exactly where a chroot would have put it.
        Assert.Equal("owned", File.ReadAllText(Path.Combine(Root, hostDir.TrimStart('/'), "passwd")));
    }

    [Fact]
    public async Task Link_to_host_etc_then_a_file_under_it_lands_in_root_etc()
    {
        // A fresh name, not passwd: if this ever regressed it must leave a stray file, not clobber the host's accounts.
        var probe = $"outpost-escape-probe-{Guid.NewGuid():N}";
        try
        {
            await ExtractAsync(new LayerBuilder().Symlink("link", "/etc").File($"link/{probe}", "owned").Tar());

            Assert.False(File.Exists(Path.Combine("/etc", probe)), "the write escaped to the host's /etc");
            Assert.Equal("owned", Read($"etc/{probe}"));
        }
        finally
        {
            File.Delete(Path.Combine("/etc", probe));
        }
    }

    [Fact]
    public async Task Relative_symlink_chain_climbing_out_is_clamped_at_root()
    {
        var outside = _temp.Sub("outside");
        Directory.CreateDirectory(outside);
        // root is <temp>/root, so a/b/up -> ../../.. would reach <temp>; "hop" then points into "outside".
        var layer = new LayerBuilder()
            .Dir("a").Dir("a/b")
            .Symlink("a/b/up", "../../..")
            .Symlink("hop", "a/b/up/outside")
            .File("hop/pwned", "x")
            .Tar();
        await ExtractAsync(layer);

        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.Equal("x", Read("outside/pwned"));
    }

    [Fact]
    public async Task Symlink_loop_is_rejected_instead_of_spinning()
    {
        var layer = new LayerBuilder().Symlink("a", "b").Symlink("b", "a").File("a/x", "x").Tar();
        var error = await Assert.ThrowsAsync<LayerSecurityException>(() => ExtractAsync(layer));
        Assert.Contains("symbolic links", error.Message);
    }

    [Fact]
    public async Task File_replacing_a_symlink_replaces_the_link_not_its_target()
    {
        var outsideFile = _temp.Sub("victim");
        File.WriteAllText(outsideFile, "safe");
        await ExtractAsync(new LayerBuilder().Symlink("cfg", outsideFile).Tar());
        await ExtractAsync(new LayerBuilder().File("cfg", "new").Tar());

        Assert.Equal("safe", File.ReadAllText(outsideFile));
        Assert.Null(new FileInfo(Path.Combine(Root, "cfg")).LinkTarget);
        Assert.Equal("new", Read("cfg"));
    }

    [Fact]
    public async Task Device_node_is_rejected_by_the_default_policy()
    {
        var error = await Assert.ThrowsAsync<LayerSecurityException>(() => ExtractAsync(new LayerBuilder().Device("dev/null", TarEntryType.CharacterDevice).Tar()));
        Assert.Equal("dev/null", error.EntryName);
    }

    [Fact]
    public async Task Device_nodes_and_fifos_are_skipped_and_counted_when_policy_says_skip()
    {
        var layer = new LayerBuilder().Device("dev/sda", TarEntryType.BlockDevice, 8, 0).Fifo("run/pipe").File("ok", "ok").Tar();
        var result = await ExtractAsync(layer, new ExtractionPolicy { DisallowedEntries = DisallowedEntryHandling.Skip });

        Assert.Equal(2, result.SkippedEntries);
        Assert.False(File.Exists(Path.Combine(Root, "dev/sda")));
        Assert.Equal("ok", Read("ok"));
    }

    [Fact]
    public async Task Allowed_device_node_is_created_when_running_as_root()
    {
        Assert.True(Environment.IsPrivilegedProcess, "This test proves mknod works and must run as root (the suite runs as root in CI).");
        await ExtractAsync(new LayerBuilder().Device("dev/null", TarEntryType.CharacterDevice, 1, 3).Tar(), new ExtractionPolicy { AllowDeviceNodes = true });

        var written = Path.Combine(Root, "dev/null");
        var listing = await ExternalTool.RunAsync("stat", "-c", "%F %t:%T", written);
        Assert.Equal("character special file 1:3", listing.Trim());
    }

    [Fact]
    public async Task Setuid_and_setgid_bits_are_stripped_unless_allowed()
    {
        var mode = (UnixFileMode)0b110_111_101_101; // 06755
        var layer = new LayerBuilder().File("bin/su", "su", mode).Tar();

        await ExtractAsync(layer);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(Path.Combine(Root, "bin/su")));

        await ExtractAsync(layer, new ExtractionPolicy { AllowSetuid = true });
        Assert.Equal(mode, File.GetUnixFileMode(Path.Combine(Root, "bin/su")));
    }

    [Fact]
    public async Task Ownership_is_applied_when_running_as_root()
    {
        Assert.True(Environment.IsPrivilegedProcess, "This test proves lchown and must run as root (the suite runs as root in CI).");
        await ExtractAsync(new LayerBuilder().File("home/u/file", "x", uid: 1234, gid: 2345).Tar());

        var owner = await ExternalTool.RunAsync("stat", "-c", "%u:%g", Path.Combine(Root, "home/u/file"));
        Assert.Equal("1234:2345", owner.Trim());
    }

    [Fact]
    public async Task Layer_over_the_byte_quota_fails_with_quota_exceeded()
    {
        var layer = new LayerBuilder().File("a", new byte[600]).File("b", new byte[600]).Tar();
        var error = await Assert.ThrowsAsync<QuotaExceededException>(() => ExtractAsync(layer, new ExtractionPolicy { MaxBytes = 1000 }));
        Assert.Equal(1000, error.LimitBytes);
        Assert.False(File.Exists(Path.Combine(Root, "b")));
    }

    [Fact]
    public async Task Read_only_directory_mode_is_applied_after_its_contents_are_written()
    {
        var layer = new LayerBuilder().Dir("ro", (UnixFileMode)0b101_101_101).File("ro/inside", "x").Tar();
        await ExtractAsync(layer);

        Assert.Equal("x", Read("ro/inside"));
        Assert.Equal((UnixFileMode)0b101_101_101, File.GetUnixFileMode(Path.Combine(Root, "ro")));
        Assert.Equal(LayerBuilder.Mtime.UtcDateTime, Directory.GetLastWriteTimeUtc(Path.Combine(Root, "ro")));
    }

    [Fact]
    public async Task Long_names_beyond_ustar_limits_extract_intact()
    {
        var name = string.Join('/', Enumerable.Repeat("very-long-directory-name", 12)) + "/file.txt";
        await ExtractAsync(new LayerBuilder().File(name, "deep").Tar());
        Assert.Equal("deep", Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(Root, name))));
    }
}
