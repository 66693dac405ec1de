using Google.Protobuf;
using Org.Lfedge.Eve.Certs;
using Org.Lfedge.Eve.Uuid;
using Outpost.Api;
using Outpost.Api.Signing;
using Outpost.Controller.Pki;
using HashAlgorithm = Org.Lfedge.Eve.Common.HashAlgorithm;

namespace Outpost.Controller.DeviceApi;

/// <summary>Routes of the EVE device API v2 under /api/v2/edgedevice.</summary>
internal static class DeviceApiEndpoints
{
    public static void MapDeviceApi(this WebApplication app)
    {
        var api = app.MapGroup(DeviceApiPaths.Prefix);
        api.MapGet("/ping", (HttpContext context) => Guard(context, () =>
        {
            Responses(context).Empty(context, StatusCodes.Status200OK);
            return Task.CompletedTask;
        }));
        api.MapMethods("/certs", ["GET", "POST"], (HttpContext context) => Guard(context, () =>
            Responses(context).SignedAsync(context, StatusCodes.Status200OK, Service<ControllerCertificates>(context).Message)));
        api.MapPost("/register", (HttpContext context) => Guard(context, async () =>
            Responses(context).Empty(context, await Service<RegistrationHandler>(context).RegisterAsync(context))));
        api.MapPost("/uuid", (HttpContext context) => Guard(context, async () =>
        {
            var call = await Authenticate(context, null);
            await Responses(context).SignedAsync(context, StatusCodes.Status200OK, new UuidResponse { Uuid = call.Device.Id.ToString() });
        }));
        api.MapPost("/id/{deviceId}/attest", (HttpContext context, string deviceId) => Guard(context, async () =>
        {
            var call = await Authenticate(context, deviceId);
            var response = await Service<AttestationHandler>(context).HandleAsync(call, context.RequestAborted);
            await Responses(context).SignedAsync(context, StatusCodes.Status201Created, response);
        }));
        api.MapPost("/id/{deviceId}/config", (HttpContext context, string deviceId) => Guard(context, async () =>
        {
            var call = await Authenticate(context, deviceId);
            var response = await Service<ConfigHandler>(context).HandleAsync(call, context.RequestAborted);
            if (response is null)
            {
                context.Response.StatusCode = StatusCodes.Status304NotModified;
                return;
            }

            await Responses(context).SignedAsync(context, StatusCodes.Status200OK, response);
        }));
        MapReport(api, "/id/{deviceId}/info", (handler, call, _, ct) => handler.InfoAsync(call, ct));
        MapReport(api, "/id/{deviceId}/metrics", (handler, call, _, ct) => handler.MetricsAsync(call, ct));
        MapReport(api, "/id/{deviceId}/newlogs", (handler, call, _, ct) => handler.NewLogsAsync(call, null, ct));
        MapReport(api, "/id/{deviceId}/logs", (handler, call, _, ct) => handler.LegacyLogsAsync(call, ct));
        MapReport(api, "/id/{deviceId}/apps/instanceid/{appId}/newlogs", (handler, call, context, ct) =>
            handler.NewLogsAsync(call, (string)context.Request.RouteValues["appId"]!, ct));
        // The spec's form of the app-log path has no device UUID; the signature names the device.
        MapReport(api, "/apps/instanceid/{appId}/newlogs", (handler, call, context, ct) =>
            handler.NewLogsAsync(call, (string)context.Request.RouteValues["appId"]!, ct));
    }

    private static void MapReport(RouteGroupBuilder api, string pattern, Func<ReportHandler, DeviceCall, HttpContext, CancellationToken, Task> store) =>
        api.MapPost(pattern, (HttpContext context) => Guard(context, async () =>
        {
            var call = await Authenticate(context, context.Request.RouteValues["deviceId"] as string);
            await store(Service<ReportHandler>(context), call, context, context.RequestAborted);
            Responses(context).Empty(context, StatusCodes.Status201Created);
        }));

    private static Task<DeviceCall> Authenticate(HttpContext context, string? deviceId) =>
        Service<DeviceAuthenticator>(context).AuthenticateAsync(context, deviceId);

    private static T Service<T>(HttpContext context)
        where T : notnull => context.RequestServices.GetRequiredService<T>();

    private static DeviceResponses Responses(HttpContext context) => Service<DeviceResponses>(context);

    /// <summary>Turns refusals into signed error responses with the right status; logs them without secrets.</summary>
    private static async Task Guard(HttpContext context, Func<Task> handler)
    {
        try
        {
            await handler();
        }
        catch (DeviceApiException e)
        {
            var logger = Service<ILoggerFactory>(context).CreateLogger("Outpost.Controller.DeviceApi");
            logger.LogInformation("Device request {Path} refused with {Status}: {Reason}", context.Request.Path, e.StatusCode, e.Message);
            await Responses(context).ErrorAsync(context, e.StatusCode, e.Message);
        }
    }
}

/// <summary>The ZControllerCert served by /certs: the SIGNING and ECDH leaves, each with its PEM-text hash.</summary>
internal sealed class ControllerCertificates(ControllerPki pki)
{
    public ZControllerCert Message { get; } = new()
    {
        Certs =
        {
            Describe(pki.SigningPem, ZCertType.CertTypeControllerSigning),
            Describe(pki.EcdhPem, ZCertType.CertTypeControllerEcdhExchange),
        },
    };

    private static ZCert Describe(string pem, ZCertType type) => new()
    {
        HashAlgo = HashAlgorithm.Sha25632Bytes,
        CertHash = ByteString.CopyFrom(CertificateHashes.OfPemText(pem)),
        Type = type,
        Cert = ByteString.CopyFromUtf8(pem),
        Attributes = new ZCertAttr { IsMutable = false },
    };
}
