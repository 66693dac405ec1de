using System.Diagnostics;
using Outpost.Agent.Timing;

namespace Outpost.Device.Init;

/// <summary>What PID 1 runs and keeps running: a program, its arguments and how to stop it.</summary>
internal sealed record ServiceDefinition(string Name, string Program, IReadOnlyList<string> Arguments)
{
    /// <summary>Run once to completion (onboot) instead of kept running.</summary>
    public bool OneShot { get; init; }

    /// <summary>Runs before the kill when the service is stopped (runc services are stopped through runc).</summary>
    public Func<CancellationToken, Task>? Stop { get; init; }

    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// One service under PID 1: started, its output sent line by line to the boot log, started again when it ends —
/// after 1 s, doubling to 60 s while it keeps failing, back to 1 s once it has stayed up for a minute — and every
/// restart said with its exit code, so a crash loop is visible on the console and in /persist/log.
/// </summary>
internal sealed class SupervisedProcess(ServiceDefinition definition, BootLog log, TimeProvider time)
{
    private static readonly TimeSpan StableAfter = TimeSpan.FromMinutes(1);
    private readonly ExponentialBackoff _backoff = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
    private readonly CancellationTokenSource _stopped = new();
    private Process? _current;

    public string Name => definition.Name;

    public int Restarts { get; private set; }

    public int? LastExitCode { get; private set; }

    /// <summary>Runs the program once and returns its exit code (onboot containers).</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        using var process = Start();
        await process.WaitForExitAsync(cancellationToken);
        LastExitCode = process.ExitCode;
        return process.ExitCode;
    }

    /// <summary>Keeps the program running until <see cref="StopAsync"/>.</summary>
    public async Task SuperviseAsync()
    {
        var stopping = _stopped.Token;
        while (!stopping.IsCancellationRequested)
        {
            var started = time.GetUtcNow();
            try
            {
                using var process = Start();
                _current = process;
                await process.WaitForExitAsync(CancellationToken.None);
                LastExitCode = process.ExitCode;
                if (stopping.IsCancellationRequested) return;
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                log.Say($"cannot start {definition.Name}: {e.Message}");
                LastExitCode = null;
            }
            finally
            {
                _current = null;
            }

            if (time.GetUtcNow() - started >= StableAfter) _backoff.Reset();
            var delay = _backoff.NextDelay();
            Restarts++;
            log.Say($"{definition.Name} ended (exit code {LastExitCode?.ToString() ?? "none"}); restart {Restarts} in {delay.TotalSeconds:0} s");
            try
            {
                await Task.Delay(delay, time, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Stops the running program: its own stop step, then SIGTERM, then SIGKILL after the timeout.</summary>
    public async Task StopAsync()
    {
        await _stopped.CancelAsync();
        var process = _current;
        if (process is null) return;
        using var timeout = new CancellationTokenSource(definition.StopTimeout);
        try
        {
            if (definition.Stop is { } stop) await stop(timeout.Token);
            else if (!process.HasExited) Native.Kill(process.Id, Native.SigTerm);
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException)
        {
            log.Say($"{definition.Name} did not stop within {definition.StopTimeout.TotalSeconds:0} s; killing it");
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended meanwhile.
            }
        }
    }

    private Process Start()
    {
        var start = new ProcessStartInfo(definition.Program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var argument in definition.Arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in definition.Environment) start.Environment[key] = value;
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) log.Line(definition.Name, e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Line(definition.Name, e.Data); };
        OrphanReaper.Start(process);
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
