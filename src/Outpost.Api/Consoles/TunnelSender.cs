using System.Net.WebSockets;

namespace Outpost.Api.Consoles;

/// <summary>
/// Sends whole frames on a console tunnel's WebSocket, one at a time (a WebSocket takes one send at a time, and many
/// sessions share the tunnel), for both ends: the device's agent and the controller's relay.
/// </summary>
public sealed class TunnelSender(WebSocket socket)
{
    private readonly SemaphoreSlim _sending = new(1, 1);

    /// <summary>Waits its turn (cancellable), then sends <paramref name="frame"/> as one binary message.</summary>
    public async Task SendAsync(byte[] frame, CancellationToken cancellationToken)
    {
        await _sending.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Not cancellable: cancelling a WebSocket send aborts the socket, which would end every session on it.
            await socket.SendAsync(frame, WebSocketMessageType.Binary, true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _sending.Release();
        }
    }
}
