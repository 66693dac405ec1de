using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Outpost.Api.Certificates;
using Outpost.Api.Consoles;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;
using Outpost.Controller.Consoles;

namespace Outpost.Controller.Tests.Consoles;

/// <summary>
/// The controller's side of remote consoles against a real controller: a device's tunnel (TLS client certificate)
/// and an operator's session (admin token) relayed both ways, and every refusal on either side.
/// </summary>
public sealed class RemoteConsoleTests(ControllerFixture fixture) : IClassFixture<ControllerFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_operator_session_is_relayed_over_the_device_s_tunnel_both_ways_and_ends_with_the_device_s_reason()
    {
        var device = await OnlineDeviceAsync();
        var app = await DeployAsync(device, "console-vm", remoteConsole: true);
        using var tunnel = await OpenTunnelAsync(device.Certificate, device.Uuid);
        await WaitForTunnelAsync(device);

        using var session = await OpenSessionAsync(device, "console-vm");
        var open = await ReceiveFrameAsync(tunnel);
        Assert.Equal(ConsoleFrameType.Open, open.Type);
        Assert.Equal(app.Id.ToString(), open.Text);
        Assert.True(ConsoleTunnel.TryParseOpen(open.Text, out var openedApp, out var kind) && openedApp == app.Id && kind == ConsoleKind.Serial);

        await tunnel.SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Data, open.Session, "login: "), WebSocketMessageType.Binary, true, default);
        Assert.Equal("login: ", await ReceiveTextAsync(session));

        await session.SendAsync("root\n"u8.ToArray(), WebSocketMessageType.Binary, true, default);
        var typed = await ReceiveFrameAsync(tunnel);
        Assert.Equal((ConsoleFrameType.Data, open.Session, "root\n"), (typed.Type, typed.Session, typed.Text));

        await tunnel.SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Close, open.Session, "the VM stopped"), WebSocketMessageType.Binary, true, default);
        var buffer = new byte[1024];
        var end = await session.ReceiveAsync(buffer, new CancellationTokenSource(Patience).Token);
        Assert.Equal(WebSocketMessageType.Close, end.MessageType);
        Assert.Equal("the VM stopped", session.CloseStatusDescription);
    }

    [Fact]
    public async Task A_vnc_session_asks_the_device_for_the_app_s_screen_and_speaks_novnc_s_binary_subprotocol()
    {
        var device = await OnlineDeviceAsync();
        var app = await DeployAsync(device, "vnc-vm", remoteConsole: false, vnc: true);
        using var tunnel = await OpenTunnelAsync(device.Certificate, device.Uuid);
        await WaitForTunnelAsync(device);
        using var session = AdminSocket();
        session.Options.AddSubProtocol("binary");
        await session.ConnectAsync(SessionUri(device, "vnc-vm", "vnc"), default);
        Assert.Equal("binary", session.SubProtocol);

        var open = await ReceiveFrameAsync(tunnel);
        Assert.True(ConsoleTunnel.TryParseOpen(open.Text, out var openedApp, out var kind));
        Assert.Equal((app.Id, ConsoleKind.Vnc), (openedApp, kind));
        await tunnel.SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Data, open.Session, "RFB 003.008\n"), WebSocketMessageType.Binary, true, default);
        Assert.Equal("RFB 003.008\n", await ReceiveTextAsync(session));
    }

    [Fact]
    public async Task Vnc_to_an_app_deployed_without_it_is_409_and_the_serial_console_does_not_open_vnc()
    {
        var device = await OnlineDeviceAsync();
        await DeployAsync(device, "serial-only", remoteConsole: true);
        using var admin = fixture.AdminClient();
        using var response = await admin.GetAsync($"api/admin/devices/{device.Serial}/apps/serial-only/vnc");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("deploy it with --vnc", (await response.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
    }

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("6f1c1b6e-2d7c-4f7e-9d55-5b0b7a3c1e20 vnc extra")]
    [InlineData("6f1c1b6e-2d7c-4f7e-9d55-5b0b7a3c1e20 serial")]
    [InlineData("")]
    public void An_open_payload_that_is_not_a_uuid_and_an_optional_vnc_is_refused(string payload) =>
        Assert.False(ConsoleTunnel.TryParseOpen(payload, out _, out _));

    [Fact]
    public async Task An_operator_who_stops_reading_is_cut_off_once_a_mebibyte_waits_and_the_device_is_told()
    {
        var device = await OnlineDeviceAsync();
        await DeployAsync(device, "flood-vm", remoteConsole: true);
        using var tunnel = await OpenTunnelAsync(device.Certificate, device.Uuid);
        await WaitForTunnelAsync(device);
        using var session = await OpenSessionAsync(device, "flood-vm");
        var open = await ReceiveFrameAsync(tunnel);

        // The operator reads nothing; the device's console pours out 32 KiB frames until the controller says stop.
        var closed = ReceiveFrameAsync(tunnel);
        var chunk = new byte[ConsoleTunnel.MaxPayloadBytes];
        long sent = 0;
        while (!closed.IsCompleted && sent < 256L * 1024 * 1024)
        {
            await tunnel.SendAsync(ConsoleTunnel.Encode(ConsoleFrameType.Data, open.Session, chunk), WebSocketMessageType.Binary, true, default);
            sent += chunk.Length;
        }

        var close = await closed;
        Assert.Equal((ConsoleFrameType.Close, open.Session, "operator too slow"), (close.Type, close.Session, close.Text));
        Assert.True(sent > 1024 * 1024, $"cut off after only {sent} bytes");
    }

    [Fact]
    public async Task An_operator_who_leaves_closes_the_session_on_the_device()
    {
        var device = await OnlineDeviceAsync();
        await DeployAsync(device, "leaving-vm", remoteConsole: true);
        using var tunnel = await OpenTunnelAsync(device.Certificate, device.Uuid);
        await WaitForTunnelAsync(device);
        using var session = await OpenSessionAsync(device, "leaving-vm");
        var open = await ReceiveFrameAsync(tunnel);

        await session.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", default);

        var close = await ReceiveFrameAsync(tunnel);
        Assert.Equal((ConsoleFrameType.Close, open.Session), (close.Type, close.Session));
    }

    [Fact]
    public async Task A_tunnel_without_a_client_certificate_is_401()
    {
        var device = await OnlineDeviceAsync();
        var status = await RefusedTunnelStatusAsync(null, device.Uuid);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task A_tunnel_with_an_unregistered_certificate_is_401()
    {
        var device = await OnlineDeviceAsync();
        var status = await RefusedTunnelStatusAsync(TestCertificates.SelfSigned("stranger"), device.Uuid);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task A_device_opening_another_device_s_tunnel_is_403()
    {
        var mine = await OnlineDeviceAsync();
        var other = await OnlineDeviceAsync();
        var status = await RefusedTunnelStatusAsync(mine.Certificate, other.Uuid);
        Assert.Equal(HttpStatusCode.Forbidden, status);
    }

    [Fact]
    public async Task The_tunnel_is_a_websocket_only()
    {
        var device = await OnlineDeviceAsync();
        using var response = await fixture.Http.GetAsync(ConsoleTunnel.Path(device.Uuid));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task A_session_without_the_admin_token_is_401()
    {
        var device = await OnlineDeviceAsync();
        await DeployAsync(device, "vm", remoteConsole: true);
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.RemoteCertificateValidationCallback = PrivateRootTrust.Callback(fixture.Host.Pki.Root);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(SessionUri(device, "vm"), default));
        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);
    }

    [Theory]
    [InlineData("no-console", HttpStatusCode.Conflict, "deploy it with --console")]
    [InlineData("missing", HttpStatusCode.NotFound, "No app 'missing'")]
    public async Task A_session_to_an_app_without_a_console_or_unknown_is_refused_with_why(string app, HttpStatusCode expected, string reason)
    {
        var device = await OnlineDeviceAsync();
        await DeployAsync(device, "no-console", remoteConsole: false);
        using var admin = fixture.AdminClient();
        using var response = await admin.GetAsync($"api/admin/devices/{device.Serial}/apps/{app}/console");
        Assert.Equal(expected, response.StatusCode);
        Assert.Contains(reason, (await response.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
    }

    [Fact]
    public async Task A_session_to_a_device_without_a_tunnel_is_503_and_says_to_check_it_is_online()
    {
        var device = await OnlineDeviceAsync();
        await DeployAsync(device, "vm", remoteConsole: true);
        using var socket = AdminSocket();
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(SessionUri(device, "vm"), default));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, socket.HttpStatusCode);
    }

    private async Task<TestDevice> OnlineDeviceAsync()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        return device;
    }

    private async Task<AppView> DeployAsync(TestDevice device, string name, bool remoteConsole, bool vnc = false)
    {
        using var admin = fixture.AdminClient();
        using var response = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new DeployAppRequest(name, "127.0.0.1:5000/vm/debian:12", null, null, null, null, null, Vm: new VmSettings(EnableVnc: vnc, RemoteConsole: remoteConsole)));
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var view = (await response.Content.ReadFromJsonAsync<AppView>(JsonSerializerOptions.Web))!;
        Assert.Equal(remoteConsole, view.Vm!.RemoteConsole);
        return view;
    }

    private Uri TunnelUri(string deviceUuid) => new UriBuilder(new Uri(fixture.Host.BaseAddress, ConsoleTunnel.Path(deviceUuid))) { Scheme = "wss" }.Uri;

    private Uri SessionUri(TestDevice device, string app, string kind = "console") =>
        new UriBuilder(new Uri(fixture.Host.BaseAddress, $"api/admin/devices/{device.Serial}/apps/{app}/{kind}")) { Scheme = "wss" }.Uri;

    private ClientWebSocket TunnelSocket(X509Certificate2? certificate)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.RemoteCertificateValidationCallback = PrivateRootTrust.Callback(fixture.Host.Pki.Root);
        if (certificate is not null)
        {
            socket.Options.ClientCertificates = [certificate];
        }

        return socket;
    }

    private async Task<ClientWebSocket> OpenTunnelAsync(X509Certificate2 certificate, string deviceUuid)
    {
        var socket = TunnelSocket(certificate);
        await socket.ConnectAsync(TunnelUri(deviceUuid), default);
        return socket;
    }

    private async Task<HttpStatusCode> RefusedTunnelStatusAsync(X509Certificate2? certificate, string deviceUuid)
    {
        using var socket = TunnelSocket(certificate);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(TunnelUri(deviceUuid), default));
        return socket.HttpStatusCode;
    }

    /// <summary>The relay registers a tunnel just after the upgrade; an operator who comes first would get 503.</summary>
    private async Task WaitForTunnelAsync(TestDevice device)
    {
        var relay = (ConsoleRelay)fixture.Host.Services.GetService(typeof(ConsoleRelay))!;
        var deadline = DateTime.UtcNow + Patience;
        while (!relay.HasTunnel(Guid.Parse(device.Uuid)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the device's tunnel was never registered");
            await Task.Delay(20);
        }
    }

    private ClientWebSocket AdminSocket()
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.RemoteCertificateValidationCallback = PrivateRootTrust.Callback(fixture.Host.Pki.Root);
        socket.Options.SetRequestHeader("Authorization", "Bearer " + fixture.AdminToken);
        return socket;
    }

    private async Task<ClientWebSocket> OpenSessionAsync(TestDevice device, string app)
    {
        var socket = AdminSocket();
        await socket.ConnectAsync(SessionUri(device, app), default);
        return socket;
    }

    private static async Task<ConsoleFrame> ReceiveFrameAsync(WebSocket socket)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var message = await ConsoleTunnel.ReceiveMessageAsync(socket, ConsoleTunnel.HeaderBytes + ConsoleTunnel.MaxPayloadBytes, timeout.Token);
        Assert.NotNull(message);
        return ConsoleTunnel.Decode(message) ?? throw new Xunit.Sdk.XunitException("the controller sent a frame that does not decode");
    }

    private static async Task<string> ReceiveTextAsync(WebSocket socket)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var message = await ConsoleTunnel.ReceiveMessageAsync(socket, 64 * 1024, timeout.Token);
        Assert.NotNull(message);
        return Encoding.UTF8.GetString(message);
    }
}
