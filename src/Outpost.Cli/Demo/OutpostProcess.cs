using System.Diagnostics;

namespace Outpost.Cli.Demo;

/// <summary>
/// A child `outpost` process (controller or agent) whose output goes to a log file. Started from this very
/// binary, whether it runs as an apphost or as `dotnet outpost.dll`.
/// </summary>
internal sealed class OutpostProcess : IAsyncDisposable
{
    private readonly Process _process;

    private OutpostProcess(Process process, string logPath)
    {
        _process = process;
        LogPath = logPath;
    }

    public string LogPath { get; }

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
        return new OutpostProcess(process, logPath);
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
        // Long enough for an agent told to stop its apps to give each its grace period (they stop in parallel).
        await StopAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
    }
}
