using Outpost.Agent.Workloads;

namespace Outpost.Agent.Tests.Workloads;

[Collection(RuncCollection.Name)]
public sealed class RuncCopyFallbackTests : IAsyncLifetime
{
    private RuncTestHost _host = null!;

    public Task InitializeAsync()
    {
        _host = new RuncTestHost(useOverlay: false);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Without_overlay_layers_are_copied_with_whiteouts_applied_and_a_warning_is_reported()
    {
        File.WriteAllText(Path.Combine(_host.RootfsDirectory, "work", "removed-by-upper-layer"), "base");
        File.WriteAllText(Path.Combine(_host.RootfsDirectory, "work", "removed-by-device-whiteout"), "base");
        File.WriteAllText(Path.Combine(_host.RootfsDirectory, "work", "replaced"), "base");
        var upper = Directory.CreateDirectory(Path.Combine(_host.Root, "upper-layer", "work")).Parent!.FullName;
        File.WriteAllText(Path.Combine(upper, "work", ".wh.removed-by-upper-layer"), "");
        File.WriteAllText(Path.Combine(upper, "work", "replaced"), "upper");
        // overlayfs's own whiteout form: a 0/0 character device with the deleted name.
        var mknod = RuncTestHost.Run("mknod", Path.Combine(upper, "work", "removed-by-device-whiteout"), "c", "0", "0");
        Assert.True(mknod.ExitCode == 0, "mknod failed: " + mknod.Output);
        var spec = _host.Spec("ls /work; cat /work/replaced") with { LowerDirectories = [_host.RootfsDirectory, upper] };

        await _host.Driver.PrepareAsync(spec, CancellationToken.None);
        await _host.Driver.StartAsync(spec.Id, CancellationToken.None);
        var status = await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped);

        Assert.Equal("replaced\nupper", await _host.ReadConsoleAsync(spec.Id));
        Assert.Contains(status.Warnings, w => w.Contains("copy"));
        Assert.Equal("base", File.ReadAllText(Path.Combine(_host.RootfsDirectory, "work", "replaced")));
    }
}
