using System.Diagnostics;

namespace Outpost.Controller.Tests.Registry;

/// <summary>Runs skopeo (the independent registry client) and fails with its stderr when it does.</summary>
internal static class RegistryToolRunner
{
    public static async Task<string> SkopeoAsync(params string[] arguments)
    {
        if (!File.Exists("/usr/bin/skopeo"))
        {
            throw new InvalidOperationException("These tests need skopeo as an independent client: apt-get install -y skopeo");
        }

        var start = new ProcessStartInfo("/usr/bin/skopeo") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"skopeo {string.Join(' ', arguments)} exited {process.ExitCode}: {await stderr}");
        }

        return await stdout;
    }
}
