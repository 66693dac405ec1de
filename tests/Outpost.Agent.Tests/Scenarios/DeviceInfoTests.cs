using Org.Lfedge.Eve.Info;
using Outpost.Agent.Reporting;

namespace Outpost.Agent.Tests.Scenarios;

public sealed class DeviceInfoTests
{
    [Fact]
    public async Task Device_info_reports_the_host_cpus_no_partition_off_an_Outpost_disk_an_unknown_power_cycle_count_and_its_first_boot()
    {
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false);
        scenario.Run.Options = scenario.Run.Options with { ExitWhenOnline = true };
        Assert.Equal(0, await scenario.Run.RunToCompletionAsync());

        var device = scenario.LatestDevice()!;
        Assert.Equal((uint)HostFacts.OnlineCpus(File.ReadAllText("/sys/devices/system/cpu/online"))!, device.Ncpu);
        Assert.Equal(-1, device.PowerCycleCounter);
        Assert.Equal(BootReason.First, device.LastBootReason);
        Assert.Equal("First boot of the device", device.LastRebootReason);
        Assert.Equal(0u, device.RestartCounter);
        Assert.Contains(device.State, new[] { ZDeviceState.Online, ZDeviceState.Booting });
        var software = Assert.Single(device.SwList);
        Assert.Equal("", software.PartitionLabel);
        Assert.Empty(device.MaintenanceModeReasons);
    }

    [Fact]
    public async Task Everything_the_agent_keeps_is_readable_by_it_alone()
    {
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false);
        scenario.Run.Options = scenario.Run.Options with { ExitWhenOnline = true };
        Assert.Equal(0, await scenario.Run.RunToCompletionAsync());

        // Nothing below the state directory can be reached by anyone else...
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(scenario.StateDir));
        Assert.True(File.Exists(Path.Combine(scenario.StateDir, "lastconfig")));
        // ...and the agent's own files are private besides (images in the content store are not secrets, and not the agent's format).
        var own = Directory.EnumerateFiles(scenario.StateDir, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != "device.cert.pem" && !f.StartsWith(Path.Combine(scenario.StateDir, "content") + "/", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(own, f => f.EndsWith("lastconfig", StringComparison.Ordinal));
        Assert.Contains(own, f => f.EndsWith("device.key.pem", StringComparison.Ordinal));
        foreach (var file in own)
        {
            var mode = File.GetUnixFileMode(file);
            Assert.True((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) == 0,
                $"{file} is {mode}");
        }
    }
}
