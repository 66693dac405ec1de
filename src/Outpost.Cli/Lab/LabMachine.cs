using System.Diagnostics;
using Outpost.Agent.Hosting;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Cli.Commands;

namespace Outpost.Cli.Lab;

/// <summary>
/// A lab device's QEMU: the spec filled in from the device's folder (UEFI, virtio disk, user network, serial log, QMP,
/// watchdog), started daemonized so it outlives `lab up`, found again by its pid file and stopped over QMP.
/// </summary>
internal static class LabMachine
{
    public static QemuMachineSpec Spec(LabDevicePaths device, QemuAccelerator accelerator, int memoryMiB) => new()
    {
        Name = device.Name,
        Accelerator = accelerator,
        MemoryMiB = memoryMiB,
        Cpus = 2,
        Firmware = new QemuUefiFirmware(QemuUefiFirmware.DebianCode, device.OvmfVars),
        Disks = [new QemuDisk(device.Disk)],
        Nics = [new QemuNic("n0")],
        SerialLogPath = device.SerialLog,
        QmpSocketPath = device.QmpSocket,
        PidFilePath = device.PidFile,
        Watchdog = true,
        Daemonize = true,
    };

    /// <summary>The QEMU pid while this device's QEMU runs (its command line names the device's QMP socket).</summary>
    public static int? RunningPid(LabDevicePaths device) => UnixProcess.RunningFromPidFile(device.PidFile, device.QmpSocket);

    /// <summary>Starts QEMU and returns its pid once it runs the machine; QEMU's own complaint becomes the error.</summary>
    public static async Task<int> StartAsync(QemuMachineSpec spec, CancellationToken ct)
    {
        var qemu = FindQemu();
        if (!File.Exists(QemuUefiFirmware.DebianCode))
        {
            throw new CliException($"No UEFI firmware at {QemuUefiFirmware.DebianCode}: apt-get install ovmf.");
        }

        IReadOnlyList<string> arguments;
        try
        {
            arguments = QemuCommandLine.Arguments(spec);
        }
        catch (WorkloadSpecException e)
        {
            throw new CliException(e.Message);
        }

        File.Delete(spec.PidFilePath!);
        File.Delete(spec.QmpSocketPath!);
        var start = new ProcessStartInfo(qemu) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // With -daemonize this first process exits once the machine is set up (0) or could not be (1, reason on stderr).
        using var process = Process.Start(start) ?? throw new CliException($"Could not start {qemu}.");
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync(ct);
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new CliException($"QEMU did not finish setting up {spec.Name} within 60 s.");
        }

        var complaint = ((await stderr) + (await stdout)).Trim();
        if (process.ExitCode != 0)
        {
            throw new CliException($"QEMU could not start {spec.Name} (exit code {process.ExitCode}): {complaint}");
        }

        return UnixProcess.RunningFromPidFile(spec.PidFilePath!, spec.QmpSocketPath!)
            ?? throw new CliException($"QEMU started {spec.Name} but it is not running now (no live pid in {spec.PidFilePath}). {complaint}");
    }

    /// <summary>
    /// QMP quit (QEMU exits at once; the guest gets no shutdown, like pulling the plug), else SIGTERM, then SIGKILL;
    /// returns once QEMU is gone and its socket and pid file are removed. Returns the pid it stopped, or null.
    /// </summary>
    public static async Task<int?> StopAsync(LabDevicePaths device, CancellationToken ct)
    {
        var pid = RunningPid(device);
        if (pid is { } running)
        {
            try
            {
                using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
                connect.CancelAfter(TimeSpan.FromSeconds(5));
                await using var qmp = await QmpClient.ConnectAsync(device.QmpSocket, connect.Token);
                await qmp.QuitAsync(connect.Token);
            }
            catch (Exception e) when (e is QmpException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                // A hung or half-started QEMU: the signals below end it anyway.
            }

            if (!await UnixProcess.WaitForExitAsync(running, device.QmpSocket, TimeSpan.FromSeconds(10), ct))
            {
                await UnixProcess.TerminateAsync(running, device.QmpSocket, TimeSpan.FromSeconds(5), ct);
            }
        }

        File.Delete(device.QmpSocket);
        File.Delete(device.PidFile);
        return pid;
    }

    private static string FindQemu()
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, QemuCommandLine.Executable);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new CliException($"{QemuCommandLine.Executable} is not installed: apt-get install qemu-system-x86.");
    }
}
