using System.Security.Cryptography;
using Outpost.Oci.Extraction;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Tests.Infrastructure;
using Outpost.Oci.Transfer;

namespace Outpost.Oci.Tests.Transfer;

/// <summary>Our unpacker against umoci on the same image, fetched by skopeo: the trees must match.</summary>
public sealed class UmociComparisonTests(RegistryFixture registry) : IClassFixture<RegistryFixture>, IDisposable
{
    private readonly TempDirectory _temp = new("umoci");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Unpacked_rootfs_matches_umoci_for_whiteouts_links_and_modes()
    {
        var image = TestImage.Create(
        [
            new LayerBuilder()
                .Dir("etc").File("etc/os-release", "ID=outpost\n").File("etc/shadow", "root:*:1::::::\n", (UnixFileMode)0b110_000_000)
                .Dir("bin").File("bin/busybox", "BB", (UnixFileMode)0b111_101_101).HardLink("bin/sh", "bin/busybox").Symlink("bin/ls", "busybox")
                .Dir("var").Dir("var/cache").File("var/cache/a", "a").File("var/cache/b", "b")
                .Dir("opt").Dir("opt/old").File("opt/old/file", "old")
                .Symlink("lib64", "/lib")
                .Tar(),
            new LayerBuilder()
                .Whiteout("etc/os-release").File("etc/hostname", "edge\n")
                .Dir("var/cache").Opaque("var/cache").File("var/cache/c", "c")
                .Whiteout("opt/old")
                .File("bin/busybox", "BB2", (UnixFileMode)0b111_101_101)
                .Tar(),
            new LayerBuilder().Dir("srv", (UnixFileMode)0b111_000_000).File("srv/data", "d", (UnixFileMode)0b100_000_000).Tar(),
        ]);
        var reference = ImageReference.Parse($"{registry.Server.Host}/outpost/umoci:v1");
        using (var client = new RegistryClient())
            await image.PushAsync(client, reference);
        var layoutDir = _temp.Sub("layout");
        await ExternalTool.RunAsync("skopeo", "copy", "--src-tls-verify=false", $"docker://{reference}", $"oci:{layoutDir}:v1");

        var bundle = _temp.Sub("bundle");
        await ExternalTool.RunAsync("umoci", "unpack", "--rootless", "--image", $"{layoutDir}:v1", bundle);
        var layout = OciLayout.Open(layoutDir);
        var ours = _temp.Sub("ours");
        await ImageUnpacker.UnpackAsync(layout, await layout.ResolveAsync("v1"), ours, ExtractionPolicy.Untrusted);

        var expected = Describe(Path.Combine(bundle, "rootfs"));
        var actual = Describe(ours);
        Assert.Equal(expected, actual);
        // Sanity: the comparison saw the interesting cases.
        Assert.Contains("var/cache/c", expected.Keys);
        Assert.DoesNotContain("var/cache/a", expected.Keys);
        Assert.DoesNotContain("opt/old", expected.Keys);
        Assert.Equal("link -> /lib", expected["lib64"]);
    }

    /// <summary>path → kind, permission bits, and content hash or link target. Never descends through links.</summary>
    private static SortedDictionary<string, string> Describe(string root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var pending = new Stack<string>([root]);
        while (pending.TryPop(out var dir))
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(dir))
            {
                var relative = Path.GetRelativePath(root, path);
                var info = new FileInfo(path);
                if (info.LinkTarget is { } target)
                {
                    result[relative] = $"link -> {target}";
                }
                else if (Directory.Exists(path))
                {
                    result[relative] = $"dir {Convert.ToString((int)File.GetUnixFileMode(path), 8)}";
                    pending.Push(path);
                }
                else
                {
                    result[relative] = $"file {Convert.ToString((int)File.GetUnixFileMode(path), 8)} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)))} {File.GetLastWriteTimeUtc(path):O}";
                }
            }
        }
        return result;
    }
}
