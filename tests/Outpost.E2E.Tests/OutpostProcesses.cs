using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Outpost.Controller.AdminApi;

namespace Outpost.E2E.Tests;

public sealed record CliResult(int ExitCode, string Output, string Error);

/// <summary>Runs the real `outpost` binary (the built outpost.dll under the dotnet host) as separate processes.</summary>
public static class OutpostBinary
{
    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "outpost.dll");

    public static ProcessStartInfo StartInfo(string workingDirectory, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Never let the developer's environment point these tests at another controller.
        start.Environment.Remove("OUTPOST_CONTROLLER");
        start.Environment.Remove("OUTPOST_TOKEN");
        start.Environment.Remove("OUTPOST_CA");
        return start;
    }

    public static Task<CliResult> RunAsync(string workingDirectory, params string[] arguments) => RunAsync(workingDirectory, TimeSpan.FromMinutes(3), arguments);

    /// <param name="limit">How long the command may take (an image build or a lab boot under TCG takes minutes).</param>
    public static async Task<CliResult> RunAsync(string workingDirectory, TimeSpan limit, params string[] arguments)
    {
        using var process = Process.Start(StartInfo(workingDirectory, arguments))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"outpost {string.Join(' ', arguments)} did not finish within {limit.TotalMinutes:0} minutes. Output so far: {await output}{await error}");
        }

        return new CliResult(process.ExitCode, await output, await error);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A long-running `outpost` role (controller or agent) whose output the test can wait on.</summary>
public sealed class OutpostDaemon : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly object _gate = new();

    private OutpostDaemon(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static OutpostDaemon Start(string workingDirectory, params string[] arguments) =>
        new(Process.Start(OutpostBinary.StartInfo(workingDirectory, arguments))!);

    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _output.AppendLine(line);
        }
    }

    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The process exited with {_process.ExitCode} before printing '{text}'. Output:\n{Output}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"'{text}' did not appear within {timeout.TotalSeconds:0} s. Output:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>SIGKILL: what a power cut or an OOM kill does to the process.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM and wait: a clean stop.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        _ = NativeSignals.Kill(_process.Id, 15);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}

internal static class NativeSignals
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static extern int Kill(int pid, int signal);
}

/// <summary>An admin API client for assertions, trusting the controller's own root.</summary>
public sealed class AdminHttp : IDisposable
{
    private readonly HttpClient _http;

    public AdminHttp(string controllerDataDirectory)
    {
        var root = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(controllerDataDirectory, "pki", "root-certificate.pem")));
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = Outpost.Api.Certificates.PrivateRootTrust.Callback(root);
        _http = new HttpClient(handler) { BaseAddress = new Uri(File.ReadAllText(Path.Combine(controllerDataDirectory, "controller.url")).Trim()) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(controllerDataDirectory, "admin.token")).Trim());
    }

    public async Task<List<DeviceView>> DevicesAsync() =>
        (await _http.GetFromJsonAsync<List<DeviceView>>("api/admin/devices", JsonSerializerOptions.Web))!;

    public async Task<List<LogView>> LogsAsync(string device, string? app = null) =>
        (await _http.GetFromJsonAsync<List<LogView>>($"api/admin/devices/{device}/logs?limit=10000" + (app is null ? "" : $"&app={app}"), JsonSerializerOptions.Web))!;

    public async Task<JsonElement> DeviceAsync(string device) =>
        await _http.GetFromJsonAsync<JsonElement>($"api/admin/devices/{device}", JsonSerializerOptions.Web);

    public async Task<List<MetricView>> MetricsAsync(string device) =>
        (await _http.GetFromJsonAsync<List<MetricView>>($"api/admin/devices/{device}/metrics?limit=1000", JsonSerializerOptions.Web))!;

    public HttpClient Http => _http;

    public void Dispose() => _http.Dispose();
}

public static class Eventually
{
    /// <summary>Polls until <paramref name="condition"/> holds; the failure message says what never happened.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException e)
            {
                last = e;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"Expected {what} within {timeout.TotalSeconds:0} s, but it did not happen." + (last is null ? "" : $" Last error: {last.Message}"));
    }
}
