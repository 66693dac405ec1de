using Outpost.Api;
using Outpost.Api.Consoles;
using Outpost.Api.Signing;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;
using Outpost.Controller.Configs;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Consoles;

/// <summary>
/// Remote consoles: the device's tunnel (it dials out, authenticated by its device certificate in TLS) and the
/// operator's session (admin token), relayed by <see cref="ConsoleRelay"/>. Nothing is opened on the device's network.
/// </summary>
internal static class ConsoleEndpoints
{
    public static void MapConsoleApi(this WebApplication app)
    {
        app.MapGet(DeviceApiPaths.Prefix + "/id/{deviceId}/console-tunnel", async (HttpContext context, string deviceId, IControllerStore store, ConsoleRelay relay) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                return Results.BadRequest(new AdminError("The console tunnel is a WebSocket; connect with an Upgrade: websocket request."));
            }

            // TLS proved the device holds the certificate's key; the certificate names the device.
            using var certificate = await context.Connection.GetClientCertificateAsync(context.RequestAborted);
            if (certificate is null)
            {
                return Results.Json(new AdminError("A console tunnel is authenticated by the device certificate: present it as the TLS client certificate."),
                    statusCode: StatusCodes.Status401Unauthorized);
            }

            var device = await store.FindDeviceByCertificateHashAsync(CertificateHashes.DerHex(certificate), context.RequestAborted);
            if (device is null)
            {
                return Results.Json(new AdminError("No device is registered with this certificate."), statusCode: StatusCodes.Status401Unauthorized);
            }

            if (!string.Equals(deviceId, device.Id.ToString(), StringComparison.OrdinalIgnoreCase))
            {
                return Results.Json(new AdminError("A device may only open its own console tunnel."), statusCode: StatusCodes.Status403Forbidden);
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await relay.ServeDeviceAsync(device.Id, socket, context.RequestAborted);
            return Results.Empty;
        });

        var admin = app.MapGroup("/api/admin").AddEndpointFilter<AdminTokenFilter>().WithTags("consoles");
        admin.MapGet("/devices/{device}/apps/{app}/console", (HttpContext context, string device, string app, IControllerStore store, AppService apps, ConsoleRelay relay) =>
            ServeSessionAsync(context, device, app, ConsoleKind.Serial, store, apps, relay));
        admin.MapGet("/devices/{device}/apps/{app}/vnc", (HttpContext context, string device, string app, IControllerStore store, AppService apps, ConsoleRelay relay) =>
            ServeSessionAsync(context, device, app, ConsoleKind.Vnc, store, apps, relay));
    }

    private static async Task<IResult> ServeSessionAsync(HttpContext context, string device, string app, ConsoleKind kind, IControllerStore store, AppService apps, ConsoleRelay relay)
    {
        var ct = context.RequestAborted;
        var record = await AdminEndpoints.FindAsync(store, device, ct);
        if (record is null)
        {
            return Results.NotFound(new AdminError(new DeviceNotFoundException(device).Message));
        }

        Guid appId;
        bool offered;
        try
        {
            (appId, offered) = await apps.ConsoleTargetAsync(record.Id, app, kind, ct);
        }
        catch (AppNotFoundException e)
        {
            return Results.NotFound(new AdminError(e.Message));
        }

        if (!offered)
        {
            return Results.Conflict(new AdminError(kind == ConsoleKind.Vnc
                ? $"App '{app}' does not offer VNC; deploy it with --vnc (EVE's enable_vnc)."
                : $"App '{app}' does not offer a remote console; deploy it with --console (EVE's remoteConsole)."));
        }

        if (!context.WebSockets.IsWebSocketRequest)
        {
            return Results.BadRequest(new AdminError("A console session is a WebSocket; use `outpost app console`, a noVNC client, or any WebSocket client."));
        }

        if (!relay.HasTunnel(record.Id))
        {
            return Results.Json(new AdminError($"Device {record.Serial} has no console tunnel open: it opens one while it runs an app with a remote console and reaches this controller. Check it is online (outpost device show)."),
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        // noVNC asks for the "binary" subprotocol; any other client gets none.
        var protocol = context.WebSockets.WebSocketRequestedProtocols.Contains("binary") ? "binary" : null;
        using var socket = await context.WebSockets.AcceptWebSocketAsync(protocol);
        var who = $"admin token from {context.Connection.RemoteIpAddress}";
        await relay.ServeOperatorAsync(record.Id, appId, kind, socket, who, ct);
        return Results.Empty;
    }
}
