using System.Diagnostics;

namespace Outpost.Oci.Tests.Infrastructure;

/// <summary>Runs the independent command-line tools the tests check against, failing loudly when one is missing.</summary>
public static class ExternalTool
{
    private static readonly Dictionary<string, string> DebianPackages = new()
    {
        ["docker-registry"] = "docker-registry",
        ["skopeo"] = "skopeo",
        ["umoci"] = "umoci",
        ["htpasswd"] = "apache2-utils",
    };

    /// <summary>The absolute path of <paramref name="tool"/>; throws with the apt package to install when absent.</summary>
    public static string Require(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
                return candidate;
        }
        var package = DebianPackages.GetValueOrDefault(tool, tool);
        throw new InvalidOperationException($"The test needs '{tool}', which is not on PATH. Install it: apt-get install -y {package}");
    }

    /// <summary>Runs the tool to completion and returns stdout; a non-zero exit fails with stderr in the message.</summary>
    public static async Task<string> RunAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(Require(tool)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} exited {process.ExitCode}: {await stderr}");
        return await stdout;
    }
}
