namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>
/// An <see cref="AppCluster"/> whose agent can also isolate containers in VMs: the container VM kit is built with
/// `outpost image container-vm-kit` from this host's kernel, as an operator would, and given to the agent.
/// </summary>
public sealed class VmCluster : AppCluster
{
    public string KitDirectory => Path.Combine(Root, "container-vm-kit");

    protected override IReadOnlyList<string> AgentArguments => ["--container-vm-kit", KitDirectory];

    public override async Task InitializeAsync()
    {
        var built = await OutpostBinary.RunAsync(Root, "image", "container-vm-kit", "--out", KitDirectory);
        Assert.True(built.ExitCode == 0, $"outpost image container-vm-kit exited {built.ExitCode}:\n{built.Output}\n{built.Error}");
        await base.InitializeAsync();
    }
}
