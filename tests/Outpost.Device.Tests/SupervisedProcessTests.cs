using Outpost.Device.Init;

namespace Outpost.Device.Tests;

public sealed class SupervisedProcessTests
{
    private sealed class Lines : StringWriter
    {
        public string Text { get { lock (this) return ToString(); } }

        public override void WriteLine(string? value)
        {
            lock (this) base.WriteLine(value);
        }
    }

    [Fact]
    public async Task A_service_that_keeps_crashing_is_started_again_with_a_doubling_delay_and_each_restart_is_said()
    {
        var console = new Lines();
        var service = new SupervisedProcess(new ServiceDefinition("crasher", "/bin/sh", ["-c", "echo crashing; exit 3"]), new BootLog(console), TimeProvider.System);
        var supervising = service.SuperviseAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!console.Text.Contains("restart 2 in 2 s", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "no second restart within 60 s:\n" + console.Text);
            await Task.Delay(100);
        }
        await service.StopAsync();
        await supervising;

        Assert.Contains("crasher: crashing", console.Text);
        Assert.Contains("init: crasher ended (exit code 3); restart 1 in 1 s", console.Text);
        Assert.Contains("init: crasher ended (exit code 3); restart 2 in 2 s", console.Text);
        Assert.True(service.Restarts >= 2);
        Assert.Equal(3, service.LastExitCode);
    }

    [Fact]
    public async Task Stopping_a_service_ends_its_process_and_it_is_not_started_again()
    {
        var console = new Lines();
        var marker = Path.Combine(Path.GetTempPath(), $"outpost-svc-{Guid.NewGuid():N}");
        var service = new SupervisedProcess(new ServiceDefinition("sleeper", "/bin/sh", ["-c", $"echo $$ > {marker}; exec sleep 600"]), new BootLog(console), TimeProvider.System);
        var supervising = service.SuperviseAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(marker) || (await File.ReadAllTextAsync(marker)).Trim().Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the service never started");
            await Task.Delay(50);
        }
        var pid = int.Parse((await File.ReadAllTextAsync(marker)).Trim());
        await service.StopAsync();
        await supervising;
        File.Delete(marker);

        Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z", StringComparison.Ordinal), "the service's process must be gone");
        Assert.DoesNotContain("restart", console.Text);
    }
}
