using System.Net;
using System.Net.Sockets;

namespace Outpost.Cli.Demo;

/// <summary>
/// The controller of a local sandbox (`outpost demo`, `outpost lab`): its data in one folder, HTTPS on 127.0.0.1, the
/// previous run's port when it is free (so addresses printed or saved earlier stay valid), and devices polling every
/// 5 s (EVE's minimum) instead of the 60 s default, for a quick loop.
/// </summary>
internal static class LocalController
{
    public const string UrlFileName = "controller.url";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Starts it and returns once it serves (its URL file is written).</summary>
    /// <param name="port">0 picks the previous port when free, else any free one.</param>
    /// <param name="detached">Outlives this process (see <see cref="OutpostProcess.StartDetached"/>) instead of ending with it.</param>
    public static async Task<OutpostProcess> StartAsync(string directory, string logPath, int port, bool detached,
        IReadOnlyList<string> extraArguments, TextWriter output, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        var urlFile = Path.Combine(directory, UrlFileName);
        var listenPort = port != 0 ? port : PreviousPort(urlFile) is { } previous && IsFree(previous) ? previous : FreePort();
        File.Delete(urlFile);
        output.WriteLine($"Starting controller on 127.0.0.1:{listenPort} (data {directory}) ...");
        string[] arguments =
        [
            "controller", "--data", directory, "--listen", $"127.0.0.1:{listenPort}", "--default-config-item", "timer.config.interval=5",
            .. extraArguments,
        ];
        var controller = detached ? OutpostProcess.StartDetached(arguments, logPath) : OutpostProcess.Start(arguments, logPath);
        try
        {
            await controller.WaitForAsync(() => Task.FromResult(File.Exists(urlFile)), "the controller to start", StartTimeout, ct);
        }
        catch
        {
            // A controller that never came up must not linger, detached or not.
            await controller.StopAsync(TimeSpan.FromSeconds(10));
            await controller.DisposeAsync();
            throw;
        }

        return controller;
    }

    private static int? PreviousPort(string urlFile) =>
        File.Exists(urlFile) && Uri.TryCreate(File.ReadAllText(urlFile).Trim(), UriKind.Absolute, out var url) ? url.Port : null;

    private static bool IsFree(int candidate)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, candidate);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
