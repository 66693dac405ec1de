using Outpost.Image.Build;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Disks;

public sealed class ReproducibilityTests
{
    [Fact]
    public async Task Building_the_example_twice_gives_identical_bytes_for_every_artifact()
    {
        using var temp = new TempDirectory();
        await ExampleBuild.PrepareInputsAsync(temp.Path);
        var first = await ExampleBuild.BuildAsync(temp.Combine("outpost.yml"), temp.Combine("a"));
        var second = await ExampleBuild.BuildAsync(temp.Combine("outpost.yml"), temp.Combine("b"));

        Assert.Equal(first.Artifacts.Select(a => a.Name), second.Artifacts.Select(a => a.Name));
        foreach (var (a, b) in first.Artifacts.Zip(second.Artifacts))
        {
            Assert.True(a.Sha256 == b.Sha256, $"{a.Name} differs between two builds");
            Assert.Equal(await File.ReadAllBytesAsync(a.Path), await File.ReadAllBytesAsync(b.Path));
        }
        Assert.Contains(first.Artifacts, a => a.Name == ImageBuilder.LiveRaw);
    }
}
