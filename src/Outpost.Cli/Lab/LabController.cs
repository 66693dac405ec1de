using Outpost.Agent.Hosting;
using Outpost.Cli.Admin;
using Outpost.Cli.Demo;

namespace Outpost.Cli.Lab;

/// <summary>
/// The lab's controller: started like the demo's (<see cref="LocalController"/>) but detached, so it keeps serving the
/// lab's VMs after `lab up` returns, and reused while it runs. It advertises 10.0.2.2, the address a QEMU user-network
/// guest reaches the host's loopback at, so devices name it by that address and the TLS certificate covers it.
/// </summary>
internal static class LabController
{
    /// <summary>The host as a QEMU user-mode-network guest sees it.</summary>
    public const string GuestHostAddress = "10.0.2.2";

    /// <summary>What the controller's command line contains, so a recycled pid is never taken for it.</summary>
    private static string Marker(LabFolder lab) => lab.ControllerDirectory;

    public static int? RunningPid(LabFolder lab) => UnixProcess.RunningFromPidFile(lab.ControllerPidFile, Marker(lab));

    /// <summary>The running lab controller, started first when it is not running.</summary>
    public static async Task<ControllerLocation> EnsureRunningAsync(LabFolder lab, TextWriter output, CancellationToken ct)
    {
        if (RunningPid(lab) is { } pid && File.Exists(Path.Combine(lab.ControllerDirectory, LocalController.UrlFileName)))
        {
            var running = ControllerLocation.OfDataDirectory(lab.ControllerDirectory);
            output.WriteLine($"Using the lab controller at {running.BaseAddress} (pid {pid}).");
            return running;
        }

        await using var controller = await LocalController.StartAsync(lab.ControllerDirectory, lab.ControllerLog, port: 0, detached: true,
            ["--advertise", GuestHostAddress], output, ct);
        await File.WriteAllTextAsync(lab.ControllerPidFile, controller.Id + "\n", ct);
        var location = ControllerLocation.OfDataDirectory(lab.ControllerDirectory);
        output.WriteLine($"Lab controller at {location.BaseAddress} (pid {controller.Id}, log {lab.ControllerLog}).");
        return location;
    }

    /// <summary>Stops it (SIGTERM, then SIGKILL) and removes its pid file; its data stays.</summary>
    public static async Task StopAsync(LabFolder lab, TextWriter output, CancellationToken ct)
    {
        if (RunningPid(lab) is { } pid)
        {
            await UnixProcess.TerminateAsync(pid, Marker(lab), TimeSpan.FromSeconds(20), ct);
            output.WriteLine($"Stopped the lab controller (pid {pid}); its data stays in {lab.ControllerDirectory}.");
        }
        else
        {
            output.WriteLine("The lab controller is not running.");
        }

        File.Delete(lab.ControllerPidFile);
    }
}
