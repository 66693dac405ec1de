using Outpost.Image.Build;
using Outpost.Image.Spec;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Disks;

public sealed class BadInputTests
{
    [Fact]
    public async Task Missing_image_names_the_reference_and_where_it_was_used()
    {
        using var temp = new TempDirectory();
        await File.WriteAllTextAsync(temp.Combine("o.yml"), "kernel:\n  image: oci:nowhere/kernel\n  cmdline: x\n");
        var error = await Assert.ThrowsAsync<MissingImageException>(() =>
            ImageBuilder.BuildAsync(new ImageBuildOptions { SpecPath = temp.Combine("o.yml"), OutputDirectory = temp.Combine("out") }, null, CancellationToken.None));
        Assert.Equal("oci:nowhere/kernel", error.Reference);
        Assert.Contains($"directory {temp.Combine("nowhere", "kernel")} does not exist (used at o.yml:2:10)", error.Message);
    }

    [Fact]
    public async Task Arm64_is_refused_with_a_clear_message_before_any_work()
    {
        using var temp = new TempDirectory();
        var error = await Assert.ThrowsAsync<NotSupportedYetException>(() => ImageBuilder.BuildAsync(
            new ImageBuildOptions { SpecPath = temp.Combine("absent.yml"), OutputDirectory = temp.Combine("out"), Architecture = "arm64" }, null, CancellationToken.None));
        Assert.StartsWith("arch arm64 is not yet supported", error.Message);
        Assert.False(Directory.Exists(temp.Combine("out")));
    }

    [Fact]
    public async Task Unknown_key_in_a_spec_file_fails_the_build_with_its_line()
    {
        using var temp = new TempDirectory();
        await File.WriteAllTextAsync(temp.Combine("outpost.yml"), "kernel:\n  image: oci:k\n  cmdlin: x\n");
        var error = await Assert.ThrowsAsync<SpecException>(() => ImageBuilder.BuildAsync(
            new ImageBuildOptions { SpecPath = temp.Combine("outpost.yml"), OutputDirectory = temp.Combine("out") }, null, CancellationToken.None));
        Assert.Equal("outpost.yml:3:3: unknown key 'cmdlin' in kernel; did you mean 'cmdline'?", error.Message);
    }

    [Fact]
    public async Task A_server_file_with_a_url_scheme_is_rejected()
    {
        using var temp = new TempDirectory();
        await ExampleBuild.PrepareInputsAsync(temp.Path);
        await File.WriteAllTextAsync(temp.Combine("config", "server"), "https://controller.example\n");
        var error = await Assert.ThrowsAsync<ImageBuildException>(() => ExampleBuild.BuildAsync(temp.Combine("outpost.yml"), temp.Combine("out")));
        Assert.Contains("config file 'server' must hold one line, the controller's HOST[:PORT]", error.Message);
    }
}
