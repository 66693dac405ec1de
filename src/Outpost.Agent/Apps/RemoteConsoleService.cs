using System.Collections.Concurrent;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Hosting;
using Outpost.Agent.Uplink;
using Outpost.Agent.Workloads;
using Outpost.Api.Consoles;

namespace Outpost.Agent.Apps;

/// <summary>
/// Remote consoles (EVE's remoteConsole): while any app offers one, the agent keeps one WebSocket dialled out to the
/// controller (the device is behind NAT; nothing listens on its network) and joins each session the controller opens
/// to that app's serial console or VNC screen, through the workload driver. A session is refused, with the reason,
/// unless its app is in this device's config offering that console (remoteConsole, enable_vnc) and the console is up;
/// the tunnel closes when no app offers one any more.
/// </summary>
public sealed partial class RemoteConsoleService(
    StateBus bus,
    WorkloadRuntime runtime,
    ControllerClient controller,
    AgentOptions options,
    AgentHealth health,
    ILogger<RemoteConsoleService> logger) : ReconcilingService(health, options.TimeProvider, logger)
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(60);

    private CancellationTokenSource? _tunnel;
    private Task _tunnelTask = Task.CompletedTask;
    private TimeSpan _retry = FirstRetry;
    private DateTimeOffset _nextAttempt = DateTimeOffset.MinValue;

    protected override IReadOnlyList<ITopic> Watched => [bus.Topic<AppSpec>()];

    protected override TimeSpan PollInterval => options.Apps.PollInterval;

    protected override async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var wanted = controller.DeviceUuid is not null && bus.Topic<AppSpec>().Current.Values.Any(OffersConsole);
        if (!wanted)
        {
            await CloseTunnelAsync().ConfigureAwait(false);
            return;
        }

        if (!_tunnelTask.IsCompleted || Time.GetUtcNow() < _nextAttempt)
        {
            return;
        }

        _tunnel?.Dispose();
        _tunnel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _tunnel.Token;
        _tunnelTask = Task.Run(() => RunTunnelAsync(controller.DeviceUuid!, token), token);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await CloseTunnelAsync().ConfigureAwait(false);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    private static bool OffersConsole(AppSpec app) => app.Vm is { RemoteConsole: true } or { EnableVnc: true };

    private static bool Offers(AppSpec app, ConsoleKind kind) => kind == ConsoleKind.Vnc ? app.Vm is { EnableVnc: true } : app.Vm is { RemoteConsole: true };

    private async Task CloseTunnelAsync()
    {
        if (_tunnel is { } tunnel)
        {
            await tunnel.CancelAsync().ConfigureAwait(false);
            await _tunnelTask.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            tunnel.Dispose();
            _tunnel = null;
        }
    }

    private async Task RunTunnelAsync(string deviceUuid, CancellationToken cancellationToken)
    {
        try
        {
            using var socket = await controller.ConnectWebSocketAsync(ConsoleTunnel.Path(deviceUuid), cancellationToken).ConfigureAwait(false);
            _retry = FirstRetry;
            LogTunnelOpen(logger, controller.Server);
            await new Tunnel(this, socket).ServeAsync(cancellationToken).ConfigureAwait(false);
            LogTunnelClosed(logger, "the controller closed it");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is WebSocketException or IOException or HttpRequestException or OperationCanceledException)
        {
            LogTunnelClosed(logger, e.Message);
        }

        // Dial again after a growing pause, so a controller that refuses is not hammered.
        _nextAttempt = Time.GetUtcNow() + _retry;
        _retry = TimeSpan.FromTicks(Math.Min(_retry.Ticks * 2, MaxRetry.Ticks));
        Wake();
    }

    /// <summary>
    /// Joins a session opened with <paramref name="payload"/> to its app's console through the driver; a refusal says
    /// why when the app is not this device's, does not offer that console, or has none running.
    /// </summary>
    private async Task<(string? Refusal, Stream? Console)> JoinAsync(string payload, CancellationToken cancellationToken)
    {
        if (!ConsoleTunnel.TryParseOpen(payload, out var appId, out var kind)
            || bus.Topic<AppSpec>().Current.GetValueOrDefault(appId.ToString()) is not { } app)
        {
            return ($"app {Shorten(payload)} is not on this device", null);
        }

        if (!Offers(app, kind))
        {
            return ($"app {app.DisplayName} does not offer {(kind == ConsoleKind.Vnc ? "VNC" : "a remote console")}", null);
        }

        var console = runtime.Driver is { } driver ? await driver.OpenInteractiveConsoleAsync(app.Uuid, kind, cancellationToken).ConfigureAwait(false) : null;
        return console is null
            ? ($"the {(kind == ConsoleKind.Vnc ? "VNC screen" : "serial console")} of app {app.DisplayName} is not up: it is there while the app runs as a VM", null)
            : (null, console);
    }

    private ILogger Log => logger;

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "...";

    [LoggerMessage(Level = LogLevel.Information, Message = "Remote console tunnel to {Server} open")]
    private static partial void LogTunnelOpen(ILogger logger, Uri server);

    [LoggerMessage(Level = LogLevel.Information, Message = "Remote console tunnel closed: {Reason}")]
    private static partial void LogTunnelClosed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Remote console session {Session} to {Target} opened")]
    private static partial void LogSessionOpened(ILogger logger, Guid session, string target);

    [LoggerMessage(Level = LogLevel.Information, Message = "Remote console session {Session} refused or ended: {Reason}")]
    private static partial void LogSessionEnded(ILogger logger, Guid session, string reason);

    /// <summary>One open tunnel: frames from the controller routed to sessions, each session a console stream from the workload driver.</summary>
    private sealed class Tunnel(RemoteConsoleService service, WebSocket socket)
    {
        private readonly TunnelSender _sender = new(socket);
        private readonly ConcurrentDictionary<Guid, Session> _sessions = new();

        public async Task ServeAsync(CancellationToken cancellationToken)
        {
            try
            {
                while (await ConsoleTunnel.ReceiveMessageAsync(socket, ConsoleTunnel.HeaderBytes + ConsoleTunnel.MaxPayloadBytes, cancellationToken).ConfigureAwait(false) is { } message)
                {
                    if (ConsoleTunnel.Decode(message) is not { } frame)
                    {
                        continue;
                    }

                    switch (frame.Type)
                    {
                        case ConsoleFrameType.Open:
                            await OpenAsync(frame.Session, frame.Text, cancellationToken).ConfigureAwait(false);
                            break;
                        case ConsoleFrameType.Data when _sessions.TryGetValue(frame.Session, out var session):
                            if (!await session.WriteAsync(frame.Payload, cancellationToken).ConfigureAwait(false))
                            {
                                await EndAsync(frame.Session, "the console closed", cancellationToken).ConfigureAwait(false);
                            }

                            break;
                        case ConsoleFrameType.Close when _sessions.TryRemove(frame.Session, out var closed):
                            closed.Dispose();
                            LogSessionEnded(service.Log, frame.Session, frame.Text.Length > 0 ? frame.Text : "the operator closed it");
                            break;
                    }
                }
            }
            finally
            {
                foreach (var id in _sessions.Keys)
                {
                    if (_sessions.TryRemove(id, out var session))
                    {
                        session.Dispose();
                    }
                }
            }
        }

        private async Task OpenAsync(Guid id, string payload, CancellationToken cancellationToken)
        {
            var (refusal, console) = await service.JoinAsync(payload, cancellationToken).ConfigureAwait(false);
            if (console is null)
            {
                LogSessionEnded(service.Log, id, refusal!);
                await SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Close, id, refusal!), cancellationToken).ConfigureAwait(false);
                return;
            }

            var session = new Session(console, cancellationToken);
            _sessions[id] = session;
            LogSessionOpened(service.Log, id, payload);
            _ = Task.Run(() => PumpAsync(id, session), CancellationToken.None);
        }

        /// <summary>The console's output to the controller until the console or the session ends.</summary>
        private async Task PumpAsync(Guid id, Session session)
        {
            var buffer = new byte[ConsoleTunnel.MaxPayloadBytes];
            try
            {
                int read;
                while ((read = await session.Console.ReadAsync(buffer, session.Token).ConfigureAwait(false)) > 0)
                {
                    await SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Data, id, buffer.AsSpan(0, read)), session.Token).ConfigureAwait(false);
                }

                await EndAsync(id, "the app's console closed (the VM stopped?)", session.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException or IOException)
            {
                // The session or the tunnel ended; whoever ended it told the other side.
            }
        }

        private async Task EndAsync(Guid id, string reason, CancellationToken cancellationToken)
        {
            if (_sessions.TryRemove(id, out var session))
            {
                session.Dispose();
                LogSessionEnded(service.Log, id, reason);
                await SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Close, id, reason), cancellationToken).ConfigureAwait(false);
            }
        }

        private Task SendAsync(byte[] frame, CancellationToken cancellationToken) => _sender.SendAsync(frame, cancellationToken);
    }

    private sealed class Session(Stream console, CancellationToken tunnelToken) : IDisposable
    {
        private readonly CancellationTokenSource _ended = CancellationTokenSource.CreateLinkedTokenSource(tunnelToken);

        public Stream Console { get; } = console;

        public CancellationToken Token => _ended.Token;

        /// <summary>Types <paramref name="input"/> into the console; false once it is gone.</summary>
        public async Task<bool> WriteAsync(ReadOnlyMemory<byte> input, CancellationToken cancellationToken)
        {
            try
            {
                await Console.WriteAsync(input, cancellationToken).ConfigureAwait(false);
                await Console.FlushAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                return false;
            }
        }

        public void Dispose()
        {
            _ended.Cancel();
            Console.Dispose();
            _ended.Dispose();
        }
    }
}
