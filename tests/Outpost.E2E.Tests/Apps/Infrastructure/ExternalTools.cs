using System.Diagnostics;

namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>The independent tools these tests lean on; a missing one fails loudly with the apt package to install.</summary>
public static class ExternalTools
{
    private static readonly Dictionary<string, string> DebianPackages = new()
    {
        ["docker-registry"] = "docker-registry",
        ["htpasswd"] = "apache2-utils",
        ["runc"] = "runc",
        ["skopeo"] = "skopeo",
        ["umoci"] = "umoci",
        ["umount"] = "mount",
    };

    public static string Require(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Append("/usr/sbin").Append("/usr/bin").Append("/bin"))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"The test needs '{tool}', which is not on PATH. Install it: apt-get install -y {DebianPackages.GetValueOrDefault(tool, tool)}");
    }

    public static async Task<string> RunAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(Require(tool)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} exited {process.ExitCode}: {await stderr}");
        }

        return await stdout;
    }
}
