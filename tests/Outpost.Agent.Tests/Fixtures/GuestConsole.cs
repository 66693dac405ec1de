using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>Talks to a <see cref="TestGuest"/>'s shell through a serial console served on a unix socket.</summary>
public static class GuestConsole
{
    /// <summary>
    /// Types <paramref name="command"/> until a line equal to <paramref name="expectedLine"/> comes back: input typed
    /// before the guest's shell has ttyS0 open is dropped, so one try is not enough. Returns everything received.
    /// </summary>
    public static async Task<string> AskAsync(string socketPath, string command, string expectedLine, TimeSpan timeout)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        var received = new StringBuilder();
        var buffer = new byte[4096];
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n"));
            using var round = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                while (true)
                {
                    var read = await socket.ReceiveAsync(buffer, SocketFlags.None, round.Token);
                    if (read == 0)
                    {
                        throw new InvalidOperationException($"The console socket closed; received:\n{received}");
                    }

                    received.Append(Encoding.UTF8.GetString(buffer, 0, read));
                    if (received.ToString().Split('\n').Any(l => l.Trim() == expectedLine))
                    {
                        return received.ToString();
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // No answer within this round: type it again.
            }
        }

        throw new TimeoutException($"No '{expectedLine}' from the guest shell within {timeout}; the socket received:\n{received}");
    }
}
