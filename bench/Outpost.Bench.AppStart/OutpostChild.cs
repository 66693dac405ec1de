using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Outpost.Bench.AppStart;

/// <summary>A child `outpost` process whose log lines (UTC-timestamped by the CLI) the benchmark reads timings from.</summary>
internal sealed class OutpostChild : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private OutpostChild(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "outpost.dll");

    public static OutpostChild Start(string workingDirectory, params string[] arguments) => new(Process.Start(StartInfo(workingDirectory, arguments))!);

    public static async Task RunAsync(string workingDirectory, params string[] arguments)
    {
        using var process = Process.Start(StartInfo(workingDirectory, arguments))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"outpost {string.Join(' ', arguments)} exited {process.ExitCode}: {await output}{await error}");
        }
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The timestamp of the first line containing <paramref name="text"/> logged at or after <paramref name="since"/>.</summary>
    public DateTimeOffset? FirstLineAfter(string text, DateTimeOffset since)
    {
        foreach (var line in Output.Split('\n'))
        {
            if (line.Contains(text, StringComparison.Ordinal) && line.Length > 24
                && DateTimeOffset.TryParseExact(line[..24], "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                && at >= since.AddMilliseconds(-1))
            {
                return at;
            }
        }

        return null;
    }

    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"'{text}' never appeared. Output:\n{Output}");
            }

            await Task.Delay(50);
        }
    }

    private static ProcessStartInfo StartInfo(string workingDirectory, string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(DllPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}
