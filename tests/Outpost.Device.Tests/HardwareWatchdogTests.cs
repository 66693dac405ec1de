using Outpost.Device.Init;

namespace Outpost.Device.Tests;

/// <summary>
/// The petting rule against a file standing in for /dev/watchdog (a real watchdog here would reset the test machine):
/// every pet is a byte written, so the file's length counts them.
/// </summary>
public sealed class HardwareWatchdogTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("outpost-watchdog-");

    [Fact]
    public async Task The_watchdog_is_petted_while_the_heartbeat_is_fresh_and_left_to_fire_once_it_goes_stale()
    {
        var device = Path.Combine(_temp.FullName, "watchdog");
        var heartbeat = Path.Combine(_temp.FullName, "agent-heartbeat");
        await File.WriteAllBytesAsync(device, []);
        await File.WriteAllBytesAsync(heartbeat, []);
        var console = new StringWriter();
        using var watchdog = HardwareWatchdog.Open(new BootLog(console), device, heartbeat);
        Assert.NotNull(watchdog);
        watchdog.CheckInterval = TimeSpan.FromMilliseconds(50);
        using var stop = new CancellationTokenSource();
        var running = watchdog.RunAsync(stop.Token);

        await WaitAsync(() => new FileInfo(device).Length >= 2, "two pets while the heartbeat is fresh");

        // A hung agent: its heartbeat stops being touched.
        File.SetLastWriteTimeUtc(heartbeat, DateTime.UtcNow - TimeSpan.FromHours(1));
        await WaitAsync(() => console.ToString().Contains("no longer petting", StringComparison.Ordinal), "the watchdog to stop petting");
        var pets = new FileInfo(device).Length;
        var checks = watchdog.Checks;
        await WaitAsync(() => watchdog.Checks >= checks + 3, "three more checks");
        Assert.Equal(pets, new FileInfo(device).Length);

        // It recovers: petting resumes.
        File.SetLastWriteTimeUtc(heartbeat, DateTime.UtcNow);
        await WaitAsync(() => new FileInfo(device).Length > pets, "petting to resume");
        Assert.Contains("petting again", console.ToString());
        await stop.CancelAsync();
        await running;
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"no {what} within 30 s");
            await Task.Delay(20);
        }
    }

    public void Dispose() => _temp.Delete(recursive: true);
}
