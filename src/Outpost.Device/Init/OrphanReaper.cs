using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Outpost.Device.Init;

/// <summary>
/// PID 1 inherits every orphan on the system, and each one that ends stays a zombie until PID 1 waits for it. .NET
/// waits only for the children it started itself (System.Diagnostics.Process), by pid, and must keep doing so to
/// report their exit codes. So the reaper looks at the next ended child without consuming it (waitid with WNOWAIT)
/// and collects it only when it is not one of ours. Starting a process and registering its pid happen under the
/// same lock the reaper takes, so a child that ends at once is never mistaken for an orphan.
/// </summary>
internal static partial class OrphanReaper
{
    private const int PAll = 0, PPid = 1, WExited = 4, WNoHang = 1, WNoWait = 0x01000000;
    private static readonly object Gate = new();
    private static readonly HashSet<int> Ours = [];

    [LibraryImport("libc", EntryPoint = "waitid", SetLastError = true)]
    private static partial int WaitId(int idType, int id, ref SigInfo info, int options);

    // siginfo_t is 128 bytes; si_pid sits at offset 16 on x86-64 Linux (after signo, errno, code and padding).
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct SigInfo
    {
        [FieldOffset(0)] public int Signo;
        [FieldOffset(16)] public int Pid;
    }

    /// <summary>Starts a process the reaper must leave to .NET.</summary>
    public static Process Start(Process process)
    {
        // Subscribed before the start, so even a child that ends at once is forgotten and its pid never shields a later orphan.
        process.Exited += (_, _) => Forget(process);
        process.EnableRaisingEvents = true;
        lock (Gate)
        {
            process.Start();
            Ours.Add(process.Id);
        }
        return process;
    }

    private static void Forget(Process process)
    {
        try
        {
            lock (Gate) Ours.Remove(process.Id);
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>Collects ended orphans every second (and could be woken by SIGCHLD) for as long as PID 1 runs.</summary>
    public static async Task RunAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stopping)) ReapOnce();
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Returns how many orphans were collected.</summary>
    public static int ReapOnce()
    {
        var reaped = 0;
        lock (Gate)
        {
            while (true)
            {
                var info = default(SigInfo);
                if (WaitId(PAll, 0, ref info, WExited | WNoHang | WNoWait) != 0 || info.Pid == 0) break;
                // Ours: .NET collects it (and with it the zombie) when its SIGCHLD handling runs.
                if (Ours.Contains(info.Pid)) break;
                var collected = default(SigInfo);
                WaitId(PPid, info.Pid, ref collected, WExited | WNoHang);
                reaped++;
            }
        }
        return reaped;
    }
}
