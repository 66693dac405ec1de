namespace Outpost.E2E.Tests;

public sealed class DemoTests
{
    [Fact]
    public async Task Demo_once_onboards_a_device_and_shows_it_online_with_its_info()
    {
        var root = Directory.CreateTempSubdirectory("outpost-demo-test-").FullName;
        try
        {
            var result = await OutpostBinary.RunAsync(root, "demo", "--once");
            Assert.True(result.ExitCode == 0, $"demo --once exited {result.ExitCode}:\n{result.Output}\n{result.Error}");
            Assert.Contains("demo-0001", result.Output);
            Assert.Contains("online", result.Output);
            Assert.Contains(Environment.MachineName, result.Output);
            Assert.Contains("Admin token:", result.Output);
            Assert.Contains("hello", result.Output);
            Assert.Contains("RUNNING", result.Output);
            // The demo is a sandbox: when it ends, nothing it started is left running.
            var state = Path.Combine(root, "outpost-demo", "device", "state");
            Assert.Empty(await Apps.Infrastructure.RuncLeftovers.RunningAsync(state));

            // A second run reuses the folder: same PKI, same device, no second registration.
            var again = await OutpostBinary.RunAsync(root, "demo", "--once");
            Assert.True(again.ExitCode == 0, $"second demo --once exited {again.ExitCode}:\n{again.Output}\n{again.Error}");
            var store = new Outpost.Controller.Storage.SqliteControllerStore(Path.Combine(root, "outpost-demo", "controller", "controller.db"));
            var devices = await store.ListDevicesAsync(CancellationToken.None);
            Assert.Equal("demo-0001", Assert.Single(devices).Serial);
            Assert.Empty(await Apps.Infrastructure.RuncLeftovers.RunningAsync(state));
        }
        finally
        {
            // Only if the assertions above failed is there anything to remove.
            await Apps.Infrastructure.RuncLeftovers.RemoveAsync(Path.Combine(root, "outpost-demo", "device", "state"));
            Directory.Delete(root, recursive: true);
        }
    }
}
