using System.Runtime.InteropServices;
using Outpost.Device.Init;

namespace Outpost.Device.Tests;

/// <summary>
/// The test process makes itself a child subreaper (prctl), so orphans come to it as they come to PID 1 on a device;
/// the reaper must collect them and leave the children .NET started alone.
/// </summary>
public sealed partial class OrphanReaperTests
{
    private const int SetChildSubreaper = 36;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nint arg2, nint arg3, nint arg4, nint arg5);

    [Fact]
    public async Task An_orphan_that_ends_is_collected_and_our_own_child_still_reports_its_exit_code()
    {
        Assert.Equal(0, Prctl(SetChildSubreaper, 1, 0, 0, 0));
        // The shell starts a sleeper and leaves without waiting for it: the sleeper is orphaned to this process.
        var started = await Tools.RunAsync("/bin/sh", "-c", "sleep 0.2 & echo $!");
        Assert.True(started.Succeeded, started.Output);
        var orphan = int.Parse(started.Output.Trim());

        // Meanwhile a child of our own that ends with a code only .NET may collect.
        var ours = Tools.RunAsync("/bin/sh", "-c", "sleep 0.5; exit 7");

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (IsZombieOrAlive(orphan))
        {
            Assert.True(DateTime.UtcNow < deadline, $"orphan {orphan} was never collected: {State(orphan)}");
            OrphanReaper.ReapOnce();
            await Task.Delay(50);
        }
        Assert.Equal(7, (await ours).ExitCode);
    }

    private static bool IsZombieOrAlive(int pid) => State(pid) is not null;

    private static string? State(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
        }
        catch (IOException)
        {
            return null;
        }
    }
}
