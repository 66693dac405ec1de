using Outpost.Image.Build;
using Outpost.Image.Diff;
using Outpost.Image.Inspect;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Inspect;

public sealed class InspectAndDiffTests(ExampleBuild build) : IClassFixture<ExampleBuild>
{
    [Fact]
    public async Task Inspect_live_raw_reports_partitions_ab_states_and_filesystems()
    {
        var result = await ImageInspector.InspectAsync(build.Artifact(ImageBuilder.LiveRaw), CancellationToken.None);
        Assert.Equal("raw-gpt", result.Format);
        Assert.Equal(build.Summary.Get(ImageBuilder.LiveRaw).Sha256, result.Sha256);
        Assert.Equal([1, 2, 3, 4, 9], result.Partitions.Select(p => p.Number));
        var byName = result.Partitions.ToDictionary(p => p.Name);
        Assert.Equal("active", byName["IMGA"].AbState);
        Assert.Equal("unused", byName["IMGB"].AbState);
        Assert.Null(byName["CONFIG"].AbState);
        Assert.Equal(("squashfs", "gzip"), (byName["IMGA"].Filesystem!.Type, byName["IMGA"].Filesystem!.Compression));
        Assert.Equal("empty", byName["IMGB"].Filesystem!.Type);
        Assert.Equal("fat32", byName["EFI System"].Filesystem!.Type);
        Assert.Contains("EFI/BOOT/BOOTX64.EFI", byName["EFI System"].Filesystem!.Files!);
        Assert.Equal("EVE", byName["CONFIG"].Filesystem!.Label);
        Assert.Contains("server", byName["CONFIG"].Filesystem!.Files!);
    }

    [Fact]
    public async Task Inspect_live_qcow2_sees_the_same_partitions_as_live_raw()
    {
        var raw = await ImageInspector.InspectAsync(build.Artifact(ImageBuilder.LiveRaw), CancellationToken.None);
        var qcow2 = await ImageInspector.InspectAsync(build.Artifact(ImageBuilder.LiveQcow2), CancellationToken.None);
        Assert.Equal("qcow2", qcow2.Format);
        Assert.Equal(raw.Partitions.Select(p => (p.Number, p.Sha256)), qcow2.Partitions.Select(p => (p.Number, p.Sha256)));
    }

    [Fact]
    public async Task Diff_of_two_builds_that_differ_in_one_file_lists_exactly_that_file()
    {
        using var temp = new TempDirectory();
        await ExampleBuild.PrepareInputsAsync(temp.Path);
        var spec = temp.Combine("outpost.yml");
        await File.WriteAllTextAsync(spec, (await File.ReadAllTextAsync(spec)).Replace("Welcome to Outpost", "Welcome to Outpost v2"));
        await ExampleBuild.BuildAsync(spec, temp.Combine("v2"), OutputFormats.None);

        var changes = await RootfsDiff.CompareAsync(build.Artifact(ImageBuilder.RootfsTar), temp.Combine("v2", ImageBuilder.RootfsTar), includeMTime: false, CancellationToken.None);
        var change = Assert.Single(changes);
        Assert.Equal(("etc/motd", RootfsChangeKind.Modified), (change.Path, change.Kind));
        Assert.Equal(["content (19 → 22 bytes)"], change.Details);
        Assert.Empty(await RootfsDiff.CompareAsync(build.Artifact(ImageBuilder.RootfsTar), build.Artifact(ImageBuilder.RootfsTar), true, CancellationToken.None));
    }
}
