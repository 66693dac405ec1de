using System.Net.WebSockets;
using System.Text;

namespace Outpost.Api.Consoles;

/// <summary>What a tunnel frame does.</summary>
public enum ConsoleFrameType : byte
{
    /// <summary>Controller → device: start a session; the payload is the app UUID, then " vnc" for its screen (see <see cref="ConsoleTunnel.OpenPayload"/>).</summary>
    Open = 1,

    /// <summary>Either way: bytes of a session's console.</summary>
    Data = 2,

    /// <summary>Either way: the session ended; the payload says why (UTF-8, may be empty).</summary>
    Close = 3,
}

/// <summary>What a session is joined to on the device.</summary>
public enum ConsoleKind
{
    /// <summary>The VM's serial console (a byte stream).</summary>
    Serial,

    /// <summary>The VM's screen over VNC (RFB bytes, for noVNC or any VNC client behind a WebSocket bridge).</summary>
    Vnc,
}

/// <summary>One frame of the console tunnel: its type, the session it belongs to and its payload.</summary>
public readonly record struct ConsoleFrame(ConsoleFrameType Type, Guid Session, ReadOnlyMemory<byte> Payload)
{
    public string Text => Encoding.UTF8.GetString(Payload.Span);
}

/// <summary>
/// The remote-console tunnel (an Outpost extension beside EVE's device API v2): devices sit behind NAT, so the device
/// dials out to the controller with one WebSocket, authenticated by its device certificate in TLS, and the controller
/// multiplexes operators' console sessions over it. Every message is one binary WebSocket message: a type byte, the
/// 16-byte session id, then the payload. A fixed binary layout keeps the agent free of reflection-based JSON (it is
/// compiled ahead of time) and never mixes one session's bytes with another's.
/// </summary>
public static class ConsoleTunnel
{
    public const int HeaderBytes = 17;

    /// <summary>A frame's payload is at most this; a longer read is sent as several frames.</summary>
    public const int MaxPayloadBytes = 32 * 1024;

    public static string Path(string deviceUuid) => DeviceApiPaths.Device(deviceUuid, "console-tunnel");

    /// <summary>An Open frame's payload: the app UUID, and " vnc" for a VNC session.</summary>
    public static string OpenPayload(Guid app, ConsoleKind kind) => kind == ConsoleKind.Vnc ? $"{app} vnc" : app.ToString();

    /// <summary>Reads an Open payload; false for anything but a UUID optionally followed by " vnc".</summary>
    public static bool TryParseOpen(string payload, out Guid app, out ConsoleKind kind)
    {
        var parts = payload.Split(' ');
        kind = parts.Length == 2 && parts[1] == "vnc" ? ConsoleKind.Vnc : ConsoleKind.Serial;
        return Guid.TryParse(parts[0], out app) && (parts.Length == 1 || kind == ConsoleKind.Vnc);
    }

    public static byte[] Encode(ConsoleFrameType type, Guid session, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxPayloadBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), $"A console frame carries at most {MaxPayloadBytes} bytes.");
        }

        var frame = new byte[HeaderBytes + payload.Length];
        frame[0] = (byte)type;
        session.TryWriteBytes(frame.AsSpan(1, 16));
        payload.CopyTo(frame.AsSpan(HeaderBytes));
        return frame;
    }

    public static byte[] Encode(ConsoleFrameType type, Guid session, string text) => Encode(type, session, Encoding.UTF8.GetBytes(text));

    /// <summary>Reads a frame; null for one that is too short, too long or of an unknown type (the peer is then misbehaving).</summary>
    public static ConsoleFrame? Decode(ReadOnlyMemory<byte> message)
    {
        if (message.Length < HeaderBytes || message.Length > HeaderBytes + MaxPayloadBytes)
        {
            return null;
        }

        var type = (ConsoleFrameType)message.Span[0];
        if (type is not (ConsoleFrameType.Open or ConsoleFrameType.Data or ConsoleFrameType.Close))
        {
            return null;
        }

        return new ConsoleFrame(type, new Guid(message.Span.Slice(1, 16)), message[HeaderBytes..]);
    }

    /// <summary>
    /// Receives one whole binary message of at most <paramref name="maxBytes"/> bytes; null once the peer closes. A longer
    /// message ends the socket with MessageTooBig rather than being buffered without bound.
    /// </summary>
    public static async Task<byte[]?> ReceiveMessageAsync(WebSocket socket, int maxBytes, CancellationToken cancellationToken)
    {
        var buffer = new byte[maxBytes];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, $"messages are at most {maxBytes} bytes", cancellationToken).ConfigureAwait(false);
                return null;
            }

            var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            length += result.Count;
            if (result.EndOfMessage)
            {
                return buffer[..length];
            }
        }
    }
}
