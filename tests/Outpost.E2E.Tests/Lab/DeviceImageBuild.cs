namespace Outpost.E2E.Tests.Lab;

/// <summary>
/// The device image (examples/outpost.yml: Debian userland, the Native AOT device binary as PID 1 and agent) built
/// once for the lab tests the way a user builds it: `outpost image example-inputs` then `outpost image build
/// --config-later` (each lab device gets its own CONFIG), with live.raw and installer.raw from the same build.
/// </summary>
public sealed class DeviceImageBuild : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("outpost-device-image-").FullName;

    public string LiveRaw => Path.Combine(_root, "out", "live.raw");

    public string InstallerRaw => Path.Combine(_root, "out", "installer.raw");

    public async Task InitializeAsync()
    {
        var repository = FindRepository();
        File.Copy(Path.Combine(repository, "examples", "outpost.yml"), Path.Combine(_root, "outpost.yml"));
        await Run("image", "example-inputs", Path.Combine(_root, "images"));
        await Run("image", "build", Path.Combine(_root, "outpost.yml"), "--out", Path.Combine(_root, "out"), "--config-later",
            "--version", "0.1.0", "--format", "raw", "--format", "installer");
        Assert.True(File.Exists(LiveRaw) && File.Exists(InstallerRaw), "the build must give live.raw and installer.raw");
    }

    private async Task Run(params string[] arguments)
    {
        var result = await OutpostBinary.RunAsync(_root, TimeSpan.FromMinutes(15), arguments);
        Assert.True(result.ExitCode == 0, $"outpost {string.Join(' ', arguments)} exited {result.ExitCode}:\n{result.Output}\n{result.Error}");
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Outpost.slnx"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root above " + AppContext.BaseDirectory);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }
}
