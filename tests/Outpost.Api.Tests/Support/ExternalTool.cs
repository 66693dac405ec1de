using System.Diagnostics;

namespace Outpost.Api.Tests.Support;

/// <summary>The outcome of running a real command-line tool.</summary>
public sealed record ToolResult(int ExitCode, byte[] StandardOutput, string StandardError)
{
    public string StandardOutputText => System.Text.Encoding.UTF8.GetString(StandardOutput);
}

/// <summary>Runs real binaries (openssl, gzip) so tests check us against independent implementations.</summary>
public static class ExternalTool
{
    public static ToolResult Run(string tool, params string[] arguments) => RunIn(null, tool, arguments);

    public static ToolResult RunIn(string? workingDirectory, string tool, params string[] arguments)
    {
        RequireInstalled(tool);
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {tool}.");
        using var output = new MemoryStream();
        var copyOutput = process.StandardOutput.BaseStream.CopyToAsync(output);
        var readError = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        copyOutput.GetAwaiter().GetResult();
        return new ToolResult(process.ExitCode, output.ToArray(), readError.GetAwaiter().GetResult());
    }

    /// <summary>Runs the tool and fails the test with its stderr unless it exits 0.</summary>
    public static ToolResult RunChecked(string? workingDirectory, string tool, params string[] arguments)
    {
        var result = RunIn(workingDirectory, tool, arguments);
        Assert.True(result.ExitCode == 0,
            $"{tool} {string.Join(' ', arguments)} exited {result.ExitCode}: {result.StandardError}");
        return result;
    }

    private static void RequireInstalled(string tool)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        var found = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, tool)));
        Assert.True(found, $"This test needs the real '{tool}' binary on PATH; install it (e.g. apt-get install {tool}).");
    }
}
