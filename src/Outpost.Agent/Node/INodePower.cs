using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Outpost.Agent.Hosting;

namespace Outpost.Agent.Node;

/// <summary>How the device reboots when the controller asks it to. The node subsystem has stopped the apps before calling it.</summary>
public interface INodePower
{
    /// <summary>Restarts the host; returns only if that could not be done.</summary>
    Task RebootAsync(string reason, CancellationToken cancellationToken);
}

/// <summary>Where a reboot command takes effect.</summary>
public enum NodePowerMode
{
    /// <summary>The agent reboots the host (systemd's reboot, or the reboot program): what a device does.</summary>
    Host,
    /// <summary>
    /// On a development host (a laptop running `outpost demo`, a test) rebooting the machine is never what anyone
    /// wants: the agent does everything a reboot starts with (apps stopped, reason recorded) and then exits, with
    /// <see cref="AgentExitCodes.RebootRequested"/>, as if the host had gone down.
    /// </summary>
    Simulated,
}

/// <summary>Reboots the host the agent runs on.</summary>
public sealed class HostNodePower : INodePower
{
    /// <summary>Written by the Outpost OS init (PID 1), which reboots on SIGTERM as busybox's and sysvinit's do.</summary>
    public const string OutpostInitMarker = "/run/outpost/init";
    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public async Task RebootAsync(string reason, CancellationToken cancellationToken)
    {
        if (File.Exists(OutpostInitMarker))
        {
            // PID 1 stops the agent (which has already stopped its apps) and every service, syncs and resets.
            if (Kill(1, SigTerm) != 0)
            {
                throw new InvalidOperationException($"Could not signal PID 1 to reboot (errno {Marshal.GetLastPInvokeError()}); the device did not reboot.");
            }

            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }

        // systemd runs its shutdown sequence (stopping other services cleanly); elsewhere init's reboot program does.
        var command = Directory.Exists("/run/systemd/system") ? ("systemctl", "reboot") : ("reboot", "");
        var start = new ProcessStartInfo(command.Item1) { UseShellExecute = false };
        if (command.Item2.Length > 0)
        {
            start.ArgumentList.Add(command.Item2);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not run {command.Item1} to reboot.");
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command.Item1} {command.Item2} exited with code {process.ExitCode}; the device did not reboot.");
        }

        // The host is going down; wait for it rather than carry on.
        await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Ends the agent instead of the host (see <see cref="NodePowerMode.Simulated"/>).</summary>
public sealed class SimulatedNodePower(IHostApplicationLifetime lifetime, AgentExit exit) : INodePower
{
    public Task RebootAsync(string reason, CancellationToken cancellationToken)
    {
        exit.RequestReboot(reason);
        lifetime.StopApplication();
        return Task.CompletedTask;
    }
}
