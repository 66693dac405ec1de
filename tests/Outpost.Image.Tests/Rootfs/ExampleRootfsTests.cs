using System.Formats.Tar;
using System.Text.Json.Nodes;
using Outpost.Image.Build;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Rootfs;

/// <summary>The example's rootfs.tar, read back with GNU tar and the BCL reader, is laid out as linuxkit lays it out.</summary>
public sealed class ExampleRootfsTests(ExampleBuild build) : IClassFixture<ExampleBuild>
{
    private async Task<Dictionary<string, (TarEntryType Type, byte[] Data, int Mode, DateTimeOffset MTime)>> ReadTarAsync()
    {
        var result = new Dictionary<string, (TarEntryType, byte[], int, DateTimeOffset)>();
        await using var file = File.OpenRead(build.Artifact(ImageBuilder.RootfsTar));
        await using var reader = new TarReader(file);
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            var data = new MemoryStream();
            if (entry.DataStream is not null) await entry.DataStream.CopyToAsync(data);
            result[entry.Name.TrimEnd('/')] = (entry.EntryType, data.ToArray(), (int)entry.Mode, entry.ModificationTime);
        }
        return result;
    }

    [Fact]
    public async Task Gnu_tar_lists_the_linuxkit_layout()
    {
        var listing = await Tools.RunAsync("tar", "-tf", build.Artifact(ImageBuilder.RootfsTar));
        Assert.True(listing.ExitCode == 0, listing.All);
        var names = listing.Stdout.Split('\n').ToHashSet();
        foreach (var expected in new[]
                 {
                     "boot/", "boot/kernel", "boot/cmdline", "bin/busybox", "sbin/init", "etc/motd", "etc/outpost-release",
                     "containers/onboot/000-hello/rootfs/bin/busybox", "containers/onboot/000-hello/config.json",
                     "containers/services/marker/rootfs/etc/hosts", "containers/services/marker/rootfs/etc/mtab",
                     "containers/services/marker/runtime.json",
                 })
            Assert.Contains(expected, names);
        Assert.Contains(names, n => n.StartsWith("lib/modules/", StringComparison.Ordinal) && n.EndsWith("/squashfs.ko", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Config_json_takes_args_from_yaml_over_image_and_env_is_merged()
    {
        var tar = await ReadTarAsync();
        var onboot = JsonNode.Parse(tar["containers/onboot/000-hello/config.json"].Data)!;
        Assert.Equal("echo 'onboot: hello ran first'", (string)onboot["process"]!["args"]![2]!);
        Assert.True((bool)onboot["root"]!["readonly"]!);
        var service = JsonNode.Parse(tar["containers/services/marker/config.json"].Data)!;
        Assert.Contains("hello from a service", (string)service["process"]!["args"]![2]!); // from the image Cmd
        Assert.Contains("GREETING=hello", service["process"]!["env"]!.AsArray().Select(e => (string)e!));
        Assert.Equal("1.0.2", (string)service["ociVersion"]!);
    }

    [Fact]
    public async Task Generated_entries_use_source_date_epoch_and_files_keep_their_modes()
    {
        var tar = await ReadTarAsync();
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(ExampleBuild.Epoch), tar["boot/cmdline"].MTime);
        Assert.Equal("console=ttyS0 panic=-1 quiet", System.Text.Encoding.UTF8.GetString(tar["boot/cmdline"].Data));
        Assert.Equal(420, tar["etc/motd"].Mode);
        Assert.Equal(493, tar["sbin/init"].Mode);
        Assert.Equal(TarEntryType.SymbolicLink, tar["containers/services/marker/rootfs/etc/mtab"].Type);
        Assert.Equal("NAME=Outpost\nVERSION=1.2.3\nARCH=amd64\nHV=kvm\nPLATFORM=generic\n", System.Text.Encoding.UTF8.GetString(tar["etc/outpost-release"].Data));
    }

    [Fact]
    public async Task Sbom_lists_each_image_by_manifest_digest()
    {
        var sbom = JsonNode.Parse(await File.ReadAllBytesAsync(build.Artifact(ImageBuilder.Sbom)))!;
        Assert.Equal("SPDX-2.3", (string)sbom["spdxVersion"]!);
        var packages = sbom["packages"]!.AsArray();
        foreach (var image in build.Summary.Images)
            Assert.Contains(packages, p => (string)p!["name"]! == image.Reference && (string)p["versionInfo"]! == image.ManifestDigest);
        Assert.Equal(3, build.Summary.Images.Select(i => i.Reference).Distinct().Count());
    }
}
