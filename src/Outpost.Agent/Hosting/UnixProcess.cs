using System.Runtime.InteropServices;

namespace Outpost.Agent.Hosting;

/// <summary>
/// Processes started and then let go of (a daemonized or shim-parented QEMU, the lab's detached controller), found
/// again by pid.
/// A pid is only trusted while its command line still names what we started, so a recycled pid is never signalled,
/// and a zombie counts as gone (nobody may be reaping it).
/// </summary>
public static class UnixProcess
{
    private const int SigTerm = 15;
    private const int SigKill = 9;

    /// <summary>The pid in <paramref name="pidFile"/> when that process runs and its command line contains <paramref name="marker"/>.</summary>
    public static int? RunningFromPidFile(string pidFile, string marker) =>
        File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) && IsRunning(pid, marker) ? pid : null;

    public static bool IsRunning(int pid, string marker)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The state follows the parenthesised command name, which may itself contain ") ".
            var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
            if (state is 'Z' or 'X')
            {
                return false;
            }

            var commandLine = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            return commandLine.Contains(marker, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>True once the process is gone, false if it still runs after <paramref name="timeout"/>.</summary>
    public static async Task<bool> WaitForExitAsync(int pid, string marker, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsRunning(pid, marker))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(100, ct);
        }

        return true;
    }

    /// <summary>SIGTERM, then SIGKILL after <paramref name="grace"/>; returns once the process is gone.</summary>
    public static async Task TerminateAsync(int pid, string marker, TimeSpan grace, CancellationToken ct)
    {
        if (!IsRunning(pid, marker))
        {
            return;
        }

        _ = Kill(pid, SigTerm);
        if (await WaitForExitAsync(pid, marker, grace, ct))
        {
            return;
        }

        _ = Kill(pid, SigKill);
        if (!await WaitForExitAsync(pid, marker, TimeSpan.FromSeconds(10), ct))
        {
            throw new Workloads.WorkloadRuntimeException($"Process {pid} is still there 10 s after SIGKILL (stuck in the kernel?); look at /proc/{pid}/stack.");
        }
    }

    /// <summary>SIGKILL at once, without a grace period, if the process still runs and names <paramref name="marker"/>.</summary>
    public static void KillNow(int pid, string marker)
    {
        if (IsRunning(pid, marker))
        {
            _ = Kill(pid, SigKill);
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
