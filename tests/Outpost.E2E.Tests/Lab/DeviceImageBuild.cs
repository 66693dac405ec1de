namespace Outpost.E2E.Tests.Lab;

/// <summary>
/// The device image (examples/outpost.yml: Debian userland, the Native AOT device binary as PID 1 and agent) built
/// once for the lab tests the way a user builds it: `outpost image example-inputs` then `outpost image build
/// --config-later` (each lab device gets its own CONFIG), with live.raw and installer.raw from the same build; and the
/// same spec as versions 0.2.0 (a good update) and 0.3.0 (an update whose initramfs is empty, so its kernel panics).
/// </summary>
public sealed class DeviceImageBuild : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("outpost-device-image-").FullName;

    public string LiveRaw => Path.Combine(_root, "out", "live.raw");

    public string InstallerRaw => Path.Combine(_root, "out", "installer.raw");

    /// <summary>An `outpost image build --out` folder of version 0.2.0, for `outpost os push`.</summary>
    public string Version2 => Path.Combine(_root, "out-v2");

    /// <summary>Version 0.3.0 with a trailer-only initramfs: the kernel finds no root and panics (panic=10 reboots it).</summary>
    public string Version3Panics => Path.Combine(_root, "out-v3");

    public async Task InitializeAsync()
    {
        var repository = FindRepository();
        File.Copy(Path.Combine(repository, "examples", "outpost.yml"), Path.Combine(_root, "outpost.yml"));
        await Run("image", "example-inputs", Path.Combine(_root, "images"));
        await Run("image", "build", Path.Combine(_root, "outpost.yml"), "--out", Path.Combine(_root, "out"), "--config-later",
            "--version", "0.1.0", "--format", "raw", "--format", "installer");
        Assert.True(File.Exists(LiveRaw) && File.Exists(InstallerRaw), "the build must give live.raw and installer.raw");
        await Run("image", "build", Path.Combine(_root, "outpost.yml"), "--out", Version2, "--config-later", "--version", "0.2.0", "--format", "raw");
        await Run("image", "build", Path.Combine(_root, "outpost.yml"), "--out", Version3Panics, "--config-later", "--version", "0.3.0", "--format", "raw");
        await using (var initrd = File.Create(Path.Combine(Version3Panics, "boot", "initrd.img")))
            new Outpost.Image.Initramfs.CpioNewcWriter(initrd).WriteTrailer();
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
