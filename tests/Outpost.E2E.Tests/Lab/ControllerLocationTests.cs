using Outpost.Cli.Admin;
using Outpost.Cli.Commands;

namespace Outpost.E2E.Tests.Lab;

/// <summary>How admin commands find a controller: flags, then OUTPOST_* variables, then a sandbox folder in the working folder.</summary>
public sealed class ControllerLocationTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("outpost-location-test-").FullName;

    private static readonly Func<string, string?> NoEnvironment = _ => null;

    private string Sandbox(string controllerDirectory, int port)
    {
        var directory = Path.Combine(_root, controllerDirectory);
        Directory.CreateDirectory(Path.Combine(directory, "pki"));
        File.WriteAllText(Path.Combine(directory, "controller.url"), $"https://127.0.0.1:{port}/\n");
        File.WriteAllText(Path.Combine(directory, "admin.token"), $"token-{port}\n");
        File.WriteAllText(Path.Combine(directory, "pki", "root-certificate.pem"), "root\n");
        return directory;
    }

    [Fact]
    public void Only_a_lab_in_the_working_folder_is_found_by_default()
    {
        var lab = Sandbox(ControllerLocation.LabControllerDirectory, 2001);

        Assert.Equal(lab, ControllerLocation.FolderDefault(_root));
        var location = ControllerLocation.Resolve(null, null, null, ControllerLocation.FolderDefault(_root), NoEnvironment);
        Assert.Equal(new Uri("https://127.0.0.1:2001/"), location.BaseAddress);
        Assert.Equal("token-2001", location.Token);
        Assert.Equal(Path.Combine(lab, "pki", "root-certificate.pem"), location.CaFile);
    }

    [Fact]
    public void With_both_a_demo_and_a_lab_the_demo_wins()
    {
        var demo = Sandbox(ControllerLocation.DemoControllerDirectory, 2002);
        Sandbox(ControllerLocation.LabControllerDirectory, 2003);
        Assert.Equal(demo, ControllerLocation.FolderDefault(_root));
    }

    [Fact]
    public void A_lab_folder_whose_controller_never_started_does_not_hide_the_demo_hint()
    {
        Directory.CreateDirectory(Path.Combine(_root, ControllerLocation.LabControllerDirectory));
        Assert.Equal(Path.Combine(_root, ControllerLocation.DemoControllerDirectory), ControllerLocation.FolderDefault(_root));
        var error = Assert.Throws<CliException>(() => ControllerLocation.Resolve(null, null, null, ControllerLocation.FolderDefault(_root), NoEnvironment));
        Assert.Contains("outpost lab up", error.Message);
    }

    [Fact]
    public void Environment_beats_the_folder_and_flags_beat_the_environment()
    {
        var lab = Sandbox(ControllerLocation.LabControllerDirectory, 2004);
        var tokenFile = Path.Combine(_root, "flag.token");
        File.WriteAllText(tokenFile, "from-flag\n");
        var environment = new Dictionary<string, string?>
        {
            ["OUTPOST_CONTROLLER"] = "https://env.example.test:9443",
            ["OUTPOST_TOKEN"] = "from-env",
            ["OUTPOST_CA"] = "/env/root.pem",
        };

        var fromEnvironment = ControllerLocation.Resolve(null, null, null, lab, name => environment.GetValueOrDefault(name));
        Assert.Equal(new ControllerLocation(new Uri("https://env.example.test:9443/"), "from-env", "/env/root.pem"), fromEnvironment);

        var fromFlags = ControllerLocation.Resolve("https://flag.example.test:7443/", tokenFile, "/flag/root.pem", lab, name => environment.GetValueOrDefault(name));
        Assert.Equal(new ControllerLocation(new Uri("https://flag.example.test:7443/"), "from-flag", "/flag/root.pem"), fromFlags);
    }

    [Fact]
    public void A_sandbox_s_own_location_ignores_the_environment()
    {
        var lab = Sandbox(ControllerLocation.LabControllerDirectory, 2005);
        Environment.SetEnvironmentVariable("OUTPOST_CONTROLLER", "https://elsewhere.example.test/");
        try
        {
            Assert.Equal(new Uri("https://127.0.0.1:2005/"), ControllerLocation.OfDataDirectory(lab).BaseAddress);
        }
        finally
        {
            Environment.SetEnvironmentVariable("OUTPOST_CONTROLLER", null);
        }
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
