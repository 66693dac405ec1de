using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Identity;
using Outpost.Agent.Tests.Fixtures;

namespace Outpost.Agent.Tests.Uplink;

public sealed class OnboardingTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly EveControllerFixture _controller = new();

    public Task InitializeAsync() => _controller.StartAsync();

    public async Task DisposeAsync() => await _controller.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Preregistered_device_onboards_attests_fetches_config_and_delivers_info()
    {
        _controller.State.AllowedSerials["SN-HAPPY"] = true;
        var confDir = _temp.Sub("conf");
        var stateDir = _temp.Sub("state");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-HAPPY");
        using var run = new AgentTestRun(confDir, stateDir);
        run.Options = run.Options with { ExitWhenOnline = true };

        Assert.Equal(0, await run.RunToCompletionAsync());

        var device = Assert.Single(_controller.State.DevicesBySerial.Values);
        Assert.Equal("SN-HAPPY", device.Serial);
        Assert.Equal(device.Uuid, File.ReadAllText(Path.Combine(stateDir, "uuid")).Trim());
        Assert.True(File.Exists(Path.Combine(stateDir, "lastconfig")), "the signed config response should be saved as lastconfig");
        Assert.True(File.Exists(Path.Combine(stateDir, "controllercerts")), "the controller certificates should be checkpointed");
        var info = _controller.State.Infos.First(i => i.Ztype == ZInfoTypes.ZiDevice);
        Assert.Equal(device.Uuid, info.DevId);
        Assert.NotNull(info.AtTimeStamp);
        Assert.True(info.Dinfo.Ncpu > 0);
        Assert.True(info.Dinfo.Memory > 0);
        var running = Assert.Single(info.Dinfo.SwList);
        Assert.True(running.Activated);
        Assert.Equal(ZSwState.Installed, running.Status);
        Assert.Equal(BaseOsStatus.Updated, running.UserStatus);

        // Serial headers only while the UUID is unknown; a fresh request id on every request.
        var headers = _controller.State.RequestHeaders.ToList();
        var register = headers.First(h => h.Path.EndsWith("/register", StringComparison.Ordinal));
        Assert.Equal("SN-HAPPY", register.Headers["X-Soft-Serial"]);
        Assert.All(headers.Where(h => h.Path.Contains("/id/", StringComparison.Ordinal)), h => Assert.False(h.Headers.ContainsKey("X-Serial-Number"), $"{h.Path} carried X-Serial-Number after the UUID was known"));
        var requestIds = headers.Select(h => h.Headers["X-Request-Id"]).ToList();
        Assert.Equal(requestIds.Count, requestIds.Distinct().Count());
        Assert.All(requestIds, id => Assert.True(Guid.TryParse(id, out _), $"X-Request-Id '{id}' is not a UUID"));
    }

    [Fact]
    public async Task Second_run_reuses_the_device_key_and_uuid()
    {
        _controller.State.AllowedSerials["SN-AGAIN"] = true;
        var confDir = _temp.Sub("conf");
        var stateDir = _temp.Sub("state");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-AGAIN");
        using var run = new AgentTestRun(confDir, stateDir);
        run.Options = run.Options with { ExitWhenOnline = true };
        Assert.Equal(0, await run.RunToCompletionAsync());
        var certificate = File.ReadAllText(Path.Combine(stateDir, FileDeviceKeyStore.CertificateFile));
        var uuid = File.ReadAllText(Path.Combine(stateDir, "uuid"));
        var infosAfterFirstRun = _controller.State.Infos.Count;

        Assert.Equal(0, await run.RunToCompletionAsync());

        Assert.Equal(certificate, File.ReadAllText(Path.Combine(stateDir, FileDeviceKeyStore.CertificateFile)));
        Assert.Equal(uuid, File.ReadAllText(Path.Combine(stateDir, "uuid")));
        Assert.Single(_controller.State.DevicesBySerial);
        // The controller accepted this device info before and nothing changed: it is not sent again.
        Assert.Equal(infosAfterFirstRun, _controller.State.Infos.Count);
    }

    [Fact]
    public async Task Unknown_serial_gets_403_and_one_line_telling_the_operator_what_to_run()
    {
        var confDir = _temp.Sub("conf");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-STRANGER");
        using var run = new AgentTestRun(confDir, _temp.Sub("state"));
        run.Options = run.Options with { MaxOnboardingAttempts = 2 };

        var error = await Assert.ThrowsAsync<OnboardingException>(run.RunToCompletionAsync);

        var expected = $"device SN-STRANGER is not pre-registered on {_controller.Server}: ask the operator to run `outpost onboarding create --serial SN-STRANGER`";
        Assert.Equal(OnboardingProblem.NotPreRegistered, error.Problem);
        Assert.Equal(expected, error.Message);
        var logged = run.Logs.Messages(LogLevel.Error).Where(m => m.Contains("not pre-registered", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, logged.Count);
        Assert.All(logged, line => Assert.DoesNotContain('\n', line));
        Assert.Empty(_controller.State.DevicesBySerial);
    }

    [Fact]
    public async Task Serial_registered_with_another_device_certificate_gets_409_and_one_line()
    {
        _controller.State.AllowedSerials["SN-TAKEN"] = true;
        var other = TestPki.CreateSelfSigned("CN=Other Device");
        _controller.State.DevicesBySerial["SN-TAKEN"] = new RegisteredDevice(Guid.NewGuid().ToString(), "SN-TAKEN",
            Outpost.Api.Signing.CertificateHashes.OfDer(other.Certificate), other.CertificatePem);
        var confDir = _temp.Sub("conf");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-TAKEN");
        using var run = new AgentTestRun(confDir, _temp.Sub("state"));
        run.Options = run.Options with { MaxOnboardingAttempts = 1 };

        var error = await Assert.ThrowsAsync<OnboardingException>(run.RunToCompletionAsync);

        Assert.Equal(OnboardingProblem.Conflict, error.Problem);
        Assert.Equal($"serial SN-TAKEN is already registered on {_controller.Server} with a different device certificate: delete the device in the controller or use another serial", error.Message);
        Assert.Contains(error.Message, run.Logs.Messages(LogLevel.Error).Single());
    }

    [Fact]
    public async Task Root_certificate_of_another_controller_is_reported_as_untrusted()
    {
        var confDir = _temp.Sub("conf");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-ROOT");
        // The wrong root already fails the TLS handshake, before /certs is read.
        File.WriteAllText(Path.Combine(confDir, "root-certificate.pem"), new TestPki("Elsewhere").Root.CertificatePem);
        using var run = new AgentTestRun(confDir, _temp.Sub("state"));
        run.Options = run.Options with { MaxOnboardingAttempts = 1 };

        var error = await Assert.ThrowsAsync<OnboardingException>(run.RunToCompletionAsync);

        Assert.Equal(OnboardingProblem.UntrustedController, error.Problem);
        Assert.Equal($"the TLS certificate of {_controller.Server} does not chain to {Path.Combine(confDir, "root-certificate.pem")}: it is not this controller's root; copy that controller's root certificate there", error.Message);
        Assert.Empty(_controller.State.Requests);
    }

    [Fact]
    public async Task Unreachable_controller_is_one_line_naming_the_server_file()
    {
        var confDir = _temp.Sub("conf");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-GONE");
        await _controller.StopAsync();
        using var run = new AgentTestRun(confDir, _temp.Sub("state"));
        run.Options = run.Options with { MaxOnboardingAttempts = 1 };

        var error = await Assert.ThrowsAsync<OnboardingException>(run.RunToCompletionAsync);

        Assert.Equal(OnboardingProblem.ControllerUnreachable, error.Problem);
        Assert.StartsWith($"cannot reach the controller at {_controller.Server}", error.Message);
        Assert.EndsWith($"check {Path.Combine(confDir, "server")} and the network", error.Message);
    }

    [Fact]
    public async Task Missing_onboarding_certificate_fails_at_once_with_the_file_name()
    {
        var confDir = _temp.Sub("conf");
        _controller.WriteConfigDirectory(confDir, softSerial: "SN-NOCERT");
        File.Delete(Path.Combine(confDir, "onboard.cert.pem"));
        using var run = new AgentTestRun(confDir, _temp.Sub("state"));

        var error = await Assert.ThrowsAsync<OnboardingException>(run.RunToCompletionAsync);

        Assert.Equal(OnboardingProblem.MissingConfiguration, error.Problem);
        Assert.Contains(Path.Combine(confDir, "onboard.cert.pem"), error.Message);
    }
}
