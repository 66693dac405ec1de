using Outpost.Image.Build;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Build;

/// <summary>The `outpost:` section: refused without a CONFIG, without a device binary, with another version, or on a base without the tools the init runs.</summary>
public sealed class OutpostOsSpecTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();

    public async Task InitializeAsync()
    {
        await ExampleBuild.PrepareInputsAsync(_temp.Path);
        // The minimal image, asking for the agent.
        await File.AppendAllTextAsync(_temp.Combine("outpost.yml"), "outpost:\n  version: 9.9.9\n");
    }

    private Task<BuildSummary> BuildAsync(string? config, bool later, string? deviceBinary) => ImageBuilder.BuildAsync(new ImageBuildOptions
    {
        SpecPath = _temp.Combine("outpost.yml"),
        OutputDirectory = _temp.Combine("out"),
        ConfigDirectory = config,
        ConfigWrittenLater = later,
        DeviceBinary = deviceBinary is null ? null : _ => Task.FromResult(deviceBinary),
    }, null, CancellationToken.None);

    [Fact]
    public async Task A_spec_asking_for_the_agent_without_a_config_folder_is_refused_with_how_to_give_one()
    {
        var error = await Assert.ThrowsAsync<ImageBuildException>(() => BuildAsync(config: null, later: false, deviceBinary: "/bin/true"));
        Assert.Contains("asks for the Outpost agent, but no --config folder was given", error.Message);
        Assert.Contains("--config-later", error.Message);
    }

    [Fact]
    public async Task A_spec_asking_for_the_agent_without_a_device_binary_is_refused_with_how_to_build_one()
    {
        var error = await Assert.ThrowsAsync<ImageBuildException>(() => BuildAsync(_temp.Combine("config"), later: false, deviceBinary: null));
        Assert.Contains("no device binary was given", error.Message);
        Assert.Contains("dotnet publish src/Outpost.Device", error.Message);
    }

    [Fact]
    public async Task A_device_binary_of_another_version_than_the_spec_pins_is_refused()
    {
        // A stand-in binary that answers --version as System.CommandLine does.
        var binary = _temp.Combine("outpost-device");
        await File.WriteAllTextAsync(binary, "#!/bin/sh\necho 0.1.0+abcdef\n");
        File.SetUnixFileMode(binary, (UnixFileMode)0b111_101_101);
        var error = await Assert.ThrowsAsync<ImageBuildException>(() => BuildAsync(null, later: true, binary));
        Assert.Contains("asks for Outpost 9.9.9", error.Message);
        Assert.Contains("is 0.1.0", error.Message);
    }

    [Fact]
    public async Task A_base_without_the_tools_the_init_runs_is_refused_naming_the_first_missing_one()
    {
        var spec = _temp.Combine("outpost.yml");
        await File.WriteAllTextAsync(spec, (await File.ReadAllTextAsync(spec)).Replace("version: 9.9.9", "version: 0.1.0"));
        var binary = _temp.Combine("outpost-device");
        await File.WriteAllTextAsync(binary, "#!/bin/sh\necho 0.1.0\n");
        File.SetUnixFileMode(binary, (UnixFileMode)0b111_101_101);
        var error = await Assert.ThrowsAsync<ImageBuildException>(() => BuildAsync(null, later: true, binary));
        Assert.Contains("the rootfs has no /usr/bin/busybox, which the Outpost init needs", error.Message);
        Assert.Contains("Debian base image", error.Message);
    }

    public Task DisposeAsync()
    {
        _temp.Dispose();
        return Task.CompletedTask;
    }
}
