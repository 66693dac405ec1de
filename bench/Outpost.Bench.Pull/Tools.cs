using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Outpost.Bench.Pull;

/// <summary>External programs the benchmark compares against or needs (docker-registry, skopeo, umoci).</summary>
internal static class Tools
{
    public static async Task RunAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {tool}; install it (apt-get install -y {tool}).");
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} exited {process.ExitCode}: {await stderr}");
        }
    }

    /// <summary>Starts Debian's docker-registry on a free loopback port with storage in <paramref name="directory"/>.</summary>
    public static async Task<(Process Process, string Host)> StartRegistryAsync(string directory)
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var config = Path.Combine(directory, "registry.yml");
        await File.WriteAllTextAsync(config, $"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {Path.Combine(directory, "registry")}\nhttp:\n  addr: 127.0.0.1:{port}\n");
        var start = new ProcessStartInfo("docker-registry") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(config);
        var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start docker-registry; apt-get install -y docker-registry");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient();
        for (var i = 0; i < 150; i++)
        {
            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{port}/v2/");
                if (response.IsSuccessStatusCode)
                {
                    return (process, $"127.0.0.1:{port}");
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        process.Kill();
        throw new InvalidOperationException("docker-registry did not start within 15 s.");
    }
}
