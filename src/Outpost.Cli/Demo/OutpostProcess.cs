using System.Diagnostics;
using Outpost.Cli.Commands;

namespace Outpost.Cli.Demo;

/// <summary>
/// A child `outpost` process (controller or agent) whose output goes to a log file. Started from this very
/// binary, whether it runs as an apphost or as `dotnet outpost.dll`. An attached child (the demo's) is stopped when
/// this object is disposed; a detached one (the lab's controller) lives on after this process ends.
/// </summary>
internal sealed class OutpostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly bool _detached;

    private OutpostProcess(Process process, string logPath, bool detached)
    {
        _process = process;
        LogPath = logPath;
        _detached = detached;
    }

    public string LogPath { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static OutpostProcess Start(IEnumerable<string> arguments, string logPath)
    {
        var start = SelfStartInfo();
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start a child outpost process.");
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var gate = new object();
        void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (gate)
            {
                log.WriteLine(line);
            }
        }

        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) =>
        {
            process.WaitForExit();
            lock (gate)
            {
                log.Dispose();
            }
        };
        return new OutpostProcess(process, logPath, detached: false);
    }

    /// <summary>
    /// Starts the process in its own session (setsid) with its output appended to <paramref name="logPath"/> by the
    /// shell, not through pipes to this process: it outlives this process, and a Ctrl-C or hang-up of this terminal
    /// does not reach it. The pid stays the same through sh's and setsid's exec, so <see cref="Id"/> is the child's.
    /// </summary>
    public static OutpostProcess StartDetached(IEnumerable<string> arguments, string logPath)
    {
        var self = SelfStartInfo();
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var argument in (string[])["-c", "log=$1; shift; exec setsid \"$@\" </dev/null >>\"$log\" 2>&1", "sh", logPath, self.FileName, .. self.ArgumentList, .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start a detached outpost process.");
        return new OutpostProcess(process, logPath, detached: true);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails early, naming the log, when the process exits.</summary>
    public async Task WaitForAsync(Func<Task<bool>> condition, string what, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await condition())
            {
                return;
            }

            if (HasExited)
            {
                throw new CliException($"Gave up waiting for {what}: the process exited with code {ExitCode}. See {LogPath}.");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new CliException($"Gave up waiting for {what} after {timeout.TotalSeconds:0} s. See {LogPath}.");
            }

            await Task.Delay(200, ct);
        }
    }

    /// <summary>How to run this binary again: the apphost directly, or the dotnet host with our dll.</summary>
    public static ProcessStartInfo SelfStartInfo()
    {
        var processPath = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which binary is running.");
        var start = new ProcessStartInfo(processPath);
        if (Path.GetFileNameWithoutExtension(processPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(OutpostProcess).Assembly.Location);
        }

        return start;
    }

    /// <summary>SIGTERM, then SIGKILL if the process has not exited within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }

        // SIGTERM lets the controller and agent shut down cleanly (flush stores, finish writes).
        _ = Kill(_process.Id, SigTerm);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    private const int SigTerm = 15;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        if (_detached)
        {
            _process.Dispose();
            return;
        }

        // Long enough for an agent told to stop its apps to give each its grace period (they stop in parallel).
        await StopAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
    }
}
