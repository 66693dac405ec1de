using System.Diagnostics;
using System.Net.WebSockets;
using Outpost.Cli.Admin;

namespace Outpost.Cli.Commands;

/// <summary>
/// `outpost app console`: the terminal joined to an app's serial console over the controller's WebSocket. On a
/// terminal, input is raw (keys go to the guest as typed, Ctrl-C included) and Ctrl-] leaves; with input from a pipe
/// or file, the session ends when the input does.
/// </summary>
internal static class ConsoleSession
{
    private const byte LeaveKey = 0x1D; // Ctrl-]

    private static readonly Dictionary<int, string> Refusals = new()
    {
        [404] = "no such device or app; list them with `outpost device list` and `outpost app list --device D`",
        [409] = "the app does not offer a remote console; deploy it with --console",
        [503] = "the device has no console tunnel open; check it is online (`outpost device show`) and the app is running",
    };

    public static async Task<int> RunAsync(AdminClient admin, string path, string app, CancellationToken ct)
    {
        using var socket = await admin.ConnectWebSocketAsync(path, Refusals, ct);
        var terminal = !Console.IsInputRedirected;
        Console.Error.WriteLine(terminal
            ? $"Connected to the serial console of {app}; press Ctrl-] to leave."
            : $"Connected to the serial console of {app}; the session ends with the input.");
        var saved = terminal ? await RawTerminalAsync() : null;
        try
        {
            using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
            long received = 0;
            var output = Task.Run(async () =>
            {
                using var stdout = Console.OpenStandardOutput();
                var buffer = new byte[32 * 1024];
                while (true)
                {
                    var result = await socket.ReceiveAsync(buffer, done.Token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    received += result.Count;
                    await stdout.WriteAsync(buffer.AsMemory(0, result.Count), done.Token);
                    await stdout.FlushAsync(done.Token);
                }
            }, done.Token);
            var input = Task.Run(async () =>
            {
                using var stdin = Console.OpenStandardInput();
                var buffer = new byte[4096];
                int read;
                while ((read = await stdin.ReadAsync(buffer, done.Token)) > 0)
                {
                    var leave = terminal ? Array.IndexOf(buffer, LeaveKey, 0, read) : -1;
                    var length = leave >= 0 ? leave : read;
                    if (length > 0)
                    {
                        await socket.SendAsync(buffer.AsMemory(0, length), WebSocketMessageType.Binary, true, done.Token);
                    }

                    if (leave >= 0)
                    {
                        return;
                    }
                }
            }, done.Token);

            var first = await Task.WhenAny(output, input);
            var closedByRemote = first == output;
            if (!closedByRemote)
            {
                await CloseQuietlyAsync(socket);
            }

            await done.CancelAsync();
            // Only the side that ended is awaited: a read of the console's input ignores cancellation once it has
            // started, so after the remote end closed it would wait for the next key (or forever, on an idle pipe).
            await (closedByRemote ? output : Task.WhenAll(output, input)).ContinueWith(_ => { }, TaskScheduler.Default);
            if (closedByRemote)
            {
                var reason = socket.CloseStatusDescription is { Length: > 0 } description ? description : "the controller closed it";
                Console.Error.WriteLine($"{(terminal ? "\r\n" : "")}Console session ended: {reason}.");
                // Refused before a byte came back (the device said why): that is a failure, not a session.
                return received > 0 ? 0 : 1;
            }

            return 0;
        }
        finally
        {
            if (saved is not null)
            {
                await RunStty(saved);
            }
        }
    }

    private static async Task CloseQuietlyAsync(WebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "the operator left", timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
        }
    }

    /// <summary>Puts the terminal in raw mode and returns its previous settings (stty -g), or null when stty cannot.</summary>
    private static async Task<string?> RawTerminalAsync()
    {
        var saved = await RunStty("-g");
        return saved is not null && await RunStty("raw -echo") is not null ? saved.Trim() : null;
    }

    private static async Task<string?> RunStty(string arguments)
    {
        try
        {
            // stty acts on its standard input, which must stay the terminal: only its output is captured.
            using var stty = Process.Start(new ProcessStartInfo("stty", arguments) { RedirectStandardOutput = true, UseShellExecute = false })!;
            var text = await stty.StandardOutput.ReadToEndAsync();
            await stty.WaitForExitAsync();
            return stty.ExitCode == 0 ? text : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
