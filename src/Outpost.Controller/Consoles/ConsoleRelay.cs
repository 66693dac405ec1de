using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Threading.Channels;
using Outpost.Api.Consoles;

namespace Outpost.Controller.Consoles;

/// <summary>
/// The devices' open console tunnels, and the operators' sessions relayed over them. A device has at most one tunnel:
/// when it dials again (its old connection died without a close), the new tunnel replaces the old one and the old
/// one's sessions end.
/// </summary>
internal sealed partial class ConsoleRelay(ILogger<ConsoleRelay> logger)
{
    private readonly ConcurrentDictionary<Guid, DeviceTunnel> _tunnels = new();

    /// <summary>Serves a device's tunnel until it closes.</summary>
    public async Task ServeDeviceAsync(Guid deviceId, WebSocket socket, CancellationToken cancellationToken)
    {
        var tunnel = new DeviceTunnel(socket);
        if (_tunnels.TryGetValue(deviceId, out var old))
        {
            old.EndAll("the device opened a new console tunnel");
        }

        _tunnels[deviceId] = tunnel;
        LogTunnelOpened(logger, deviceId);
        try
        {
            await tunnel.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // The device went away; its sessions end below.
        }
        finally
        {
            _tunnels.TryRemove(KeyValuePair.Create(deviceId, tunnel));
            tunnel.EndAll("the device's console tunnel closed");
            LogTunnelClosed(logger, deviceId);
        }
    }

    public bool HasTunnel(Guid deviceId) => _tunnels.ContainsKey(deviceId);

    /// <summary>
    /// Relays an operator's WebSocket to the app's console on the device until either side ends; every session is
    /// logged with who opened it, from where, and how many bytes went each way.
    /// </summary>
    public async Task ServeOperatorAsync(Guid deviceId, Guid appId, ConsoleKind kind, WebSocket operatorSocket, string who, CancellationToken cancellationToken)
    {
        if (!_tunnels.TryGetValue(deviceId, out var tunnel))
        {
            await operatorSocket.CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "the device's console tunnel is not open", cancellationToken).ConfigureAwait(false);
            return;
        }

        var session = await tunnel.OpenAsync(appId, kind, cancellationToken).ConfigureAwait(false);
        LogSessionOpened(logger, session.Id, kind, who, deviceId, appId);
        long toDevice = 0, fromDevice = 0;
        using var done = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var upstream = Task.Run(async () =>
        {
            while (await ConsoleTunnel.ReceiveMessageAsync(operatorSocket, ConsoleTunnel.MaxPayloadBytes, done.Token).ConfigureAwait(false) is { } input)
            {
                toDevice += input.Length;
                await tunnel.SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Data, session.Id, input), done.Token).ConfigureAwait(false);
            }
        }, done.Token);
        var downstream = Task.Run(async () =>
        {
            await foreach (var output in session.FromDevice.ReadAllAsync(done.Token).ConfigureAwait(false))
            {
                session.Dequeued(output.Length);
                fromDevice += output.Length;
                await operatorSocket.SendAsync(output, WebSocketMessageType.Binary, true, done.Token).ConfigureAwait(false);
            }
        }, done.Token);

        // Cancelling a pending receive aborts a WebSocket, so the operator's socket is only cancelled once its close
        // handshake is done or overdue.
        string reason;
        if (await Task.WhenAny(upstream, downstream).ConfigureAwait(false) == downstream)
        {
            reason = session.CloseReason ?? "the console ended";
            await CloseQuietlyAsync(operatorSocket, reason).ConfigureAwait(false);
            await Task.WhenAny(upstream, Task.Delay(CloseHandshakeTimeout, CancellationToken.None)).ConfigureAwait(false);
            await done.CancelAsync().ConfigureAwait(false);
        }
        else
        {
            reason = "the operator closed the session";
            await done.CancelAsync().ConfigureAwait(false);
            await CloseQuietlyAsync(operatorSocket, reason).ConfigureAwait(false);
        }

        await Task.WhenAll(upstream, downstream).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        if (tunnel.Remove(session.Id))
        {
            await tunnel.TrySendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Close, session.Id, reason)).ConfigureAwait(false);
        }

        LogSessionClosed(logger, session.Id, who, deviceId, appId, reason, toDevice, fromDevice);
    }

    private static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(5);

    private static async Task CloseQuietlyAsync(WebSocket socket, string reason)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        using var timeout = new CancellationTokenSource(CloseHandshakeTimeout);
        try
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, Shorten(reason), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
        }
    }

    // A close reason is at most 123 bytes on the wire.
    private static string Shorten(string reason) => reason.Length <= 120 ? reason : reason[..117] + "...";

    [LoggerMessage(Level = LogLevel.Information, Message = "Console tunnel of device {DeviceId} opened")]
    private static partial void LogTunnelOpened(ILogger logger, Guid deviceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Console tunnel of device {DeviceId} closed")]
    private static partial void LogTunnelClosed(ILogger logger, Guid deviceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Console session {Session} ({Kind}) opened by {Who} to app {AppId} on device {DeviceId}")]
    private static partial void LogSessionOpened(ILogger logger, Guid session, ConsoleKind kind, string who, Guid deviceId, Guid appId);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Console session {Session} of {Who} to app {AppId} on device {DeviceId} ended ({Reason}): {ToDevice} bytes typed, {FromDevice} bytes shown")]
    private static partial void LogSessionClosed(ILogger logger, Guid session, string who, Guid deviceId, Guid appId, string reason, long toDevice, long fromDevice);

    /// <summary>One device's tunnel: sends are serialized; what arrives is routed to its session by id.</summary>
    private sealed class DeviceTunnel(WebSocket socket)
    {
        // Bytes a session may have waiting for a slow operator before it is ended. Counted in bytes, not frames: a
        // serial console's echo comes a few bytes per frame, and a busy controller may take a while to drain a burst.
        private const long SessionBacklogBytes = 1024 * 1024;
        private readonly TunnelSender _sender = new(socket);
        private readonly ConcurrentDictionary<Guid, Session> _sessions = new();

        public async Task<Session> OpenAsync(Guid appId, ConsoleKind kind, CancellationToken cancellationToken)
        {
            var session = new Session(Guid.NewGuid(), Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true }));
            _sessions[session.Id] = session;
            await SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Open, session.Id, ConsoleTunnel.OpenPayload(appId, kind)), cancellationToken).ConfigureAwait(false);
            return session;
        }

        public bool Remove(Guid session) => _sessions.TryRemove(session, out _);

        public Task SendAsync(byte[] frame, CancellationToken cancellationToken) => _sender.SendAsync(frame, cancellationToken);

        public async Task TrySendAsync(byte[] frame)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await SendAsync(frame, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
            {
                // The tunnel is gone; the device drops its sessions with it.
            }
        }

        public async Task ReceiveAsync(CancellationToken cancellationToken)
        {
            while (await ConsoleTunnel.ReceiveMessageAsync(socket, ConsoleTunnel.HeaderBytes + ConsoleTunnel.MaxPayloadBytes, cancellationToken).ConfigureAwait(false) is { } message)
            {
                if (ConsoleTunnel.Decode(message) is not { } frame || !_sessions.TryGetValue(frame.Session, out var session))
                {
                    // A late frame of a session that ended, or garbage: neither reaches an operator.
                    continue;
                }

                if (frame.Type == ConsoleFrameType.Close)
                {
                    _sessions.TryRemove(frame.Session, out _);
                    session.End(frame.Text.Length > 0 ? frame.Text : "the device ended the session");
                }
                else if (frame.Type == ConsoleFrameType.Data && !session.TryQueue(frame.Payload.ToArray(), SessionBacklogBytes))
                {
                    // The operator does not read: end that session rather than stall every other one on this tunnel.
                    _sessions.TryRemove(frame.Session, out _);
                    session.End("the operator's connection did not keep up with the console");
                    await TrySendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Close, frame.Session, "operator too slow")).ConfigureAwait(false);
                }
            }
        }

        public void EndAll(string reason)
        {
            foreach (var id in _sessions.Keys)
            {
                if (_sessions.TryRemove(id, out var session))
                {
                    session.End(reason);
                }
            }

            socket.Abort();
        }
    }

    private sealed class Session(Guid id, Channel<byte[]> fromDevice)
    {
        public Guid Id { get; } = id;

        public ChannelReader<byte[]> FromDevice => fromDevice.Reader;

        private long _queuedBytes;

        /// <summary>Queues device output for the operator; false when more than <paramref name="limit"/> bytes would be waiting.</summary>
        public bool TryQueue(byte[] output, long limit) =>
            Interlocked.Add(ref _queuedBytes, output.Length) <= limit && fromDevice.Writer.TryWrite(output);

        public void Dequeued(int bytes) => Interlocked.Add(ref _queuedBytes, -bytes);

        public string? CloseReason { get; private set; }

        public void End(string reason)
        {
            CloseReason ??= reason;
            fromDevice.Writer.TryComplete();
        }
    }
}
