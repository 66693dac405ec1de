using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Google.Protobuf;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Metrics;
using Outpost.Api.Configuration;
using Outpost.Api.Signing;
using Outpost.Controller.Configs;
using Outpost.Controller.DeviceApi;
using Outpost.Controller.OsImages;
using Outpost.Controller.Pki;
using Outpost.Controller.Storage;

namespace Outpost.Controller.AdminApi;

/// <summary>The operator's JSON API under /api/admin (bearer token), documented by the OpenAPI document.</summary>
internal static class AdminEndpoints
{
    /// <summary>A device that has not called in for this long is shown offline (3 default config intervals).</summary>
    private static readonly TimeSpan OnlineWindow = TimeSpan.FromMinutes(3);

    private static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    public static void MapAdminApi(this WebApplication app)
    {
        var admin = app.MapGroup("/api/admin").AddEndpointFilter<AdminTokenFilter>().WithTags("admin");

        admin.MapGet("/controller", (ControllerPki pki, ControllerRuntime runtime) =>
            new ControllerIdentity(runtime.ServerAddress, pki.RootPem,
                pki.AdvertisedNames.Select(name => AdvertisedNames.ServerAddress(name, runtime.Port)).ToList()));

        admin.MapGet("/onboarding", async (IControllerStore store, CancellationToken ct) =>
            (await store.ListOnboardingAsync(ct)).Select(ToView));
        admin.MapPost("/onboarding", CreateOnboardingAsync);
        admin.MapDelete("/onboarding/{id:guid}", async (Guid id, IControllerStore store, CancellationToken ct) =>
            await store.RevokeOnboardingAsync(id, ct) ? Results.NoContent() : NotFound($"No onboarding certificate {id}."));

        admin.MapGet("/devices", async (IControllerStore store, TimeProvider time, CancellationToken ct) =>
        {
            var devices = await store.ListDevicesAsync(ct);
            var views = new List<DeviceView>();
            foreach (var device in devices)
            {
                views.Add(await ViewAsync(device, store, time, ct));
            }

            return views;
        });
        admin.MapGet("/devices/{device}", ShowDeviceAsync);
        admin.MapDelete("/devices/{device}", async (string device, IControllerStore store, DeviceAuthenticator authenticator, CancellationToken ct) =>
        {
            var record = await FindAsync(store, device, ct);
            if (record is null)
            {
                return NotFound(new DeviceNotFoundException(device).Message);
            }

            await store.DeleteDeviceAsync(record.Id, ct);
            authenticator.Forget(record);
            return Results.NoContent();
        });

        admin.MapGet("/devices/{device}/config", async (string device, IControllerStore store, DeviceConfigService configs, CancellationToken ct) =>
            await WithDeviceAsync(store, device, ct, async record =>
                ProtoJsonResult(await configs.GetAsync(record.Id, ct) ?? new EdgeDevConfig())));
        admin.MapPut("/devices/{device}/config", SetConfigAsync).Accepts<JsonElement>("application/json");
        admin.MapPost("/devices/{device}/reboot", (string device, IControllerStore store, DeviceConfigService configs, TimeProvider time, CancellationToken ct) =>
            RequestOperationAsync(device, "reboot", c => c.Reboot, (c, op) => c.Reboot = op, store, configs, time, ct));
        admin.MapPost("/devices/{device}/shutdown", (string device, IControllerStore store, DeviceConfigService configs, TimeProvider time, CancellationToken ct) =>
            RequestOperationAsync(device, "shutdown", c => c.Shutdown, (c, op) => c.Shutdown = op, store, configs, time, ct));
        admin.MapGet("/devices/{device}/config/items", async (string device, IControllerStore store, DeviceConfigService configs, CancellationToken ct) =>
            await WithDeviceAsync(store, device, ct, async record =>
            {
                var config = await configs.GetAsync(record.Id, ct) ?? new EdgeDevConfig();
                return Results.Ok(config.ConfigItems.ToDictionary(item => item.Key, item => item.Value));
            }));
        admin.MapPut("/devices/{device}/config/items/{key}", async (string device, string key, ConfigItemValue body, IControllerStore store,
            DeviceConfigService configs, CancellationToken ct) =>
            await WithDeviceAsync(store, device, ct, async record =>
            {
                await configs.UpdateAsync(record.Id, config =>
                {
                    var existing = config.ConfigItems.FirstOrDefault(item => item.Key == key);
                    if (existing is null)
                    {
                        config.ConfigItems.Add(new ConfigItem { Key = key, Value = body.Value });
                    }
                    else
                    {
                        existing.Value = body.Value;
                    }
                }, ct);
                return Results.NoContent();
            }));
        admin.MapDelete("/devices/{device}/config/items/{key}", async (string device, string key, IControllerStore store,
            DeviceConfigService configs, CancellationToken ct) =>
            await WithDeviceAsync(store, device, ct, async record =>
            {
                await configs.UpdateAsync(record.Id, config =>
                {
                    foreach (var item in config.ConfigItems.Where(item => item.Key == key).ToList())
                    {
                        config.ConfigItems.Remove(item);
                    }
                }, ct);
                return Results.NoContent();
            }));

        admin.MapGet("/devices/{device}/metrics", async (string device, DateTimeOffset? since, int? limit, IControllerStore store, CancellationToken ct) =>
            await WithDeviceAsync(store, device, ct, async record =>
            {
                var metrics = await store.QueryMetricsAsync(record.Id, since, Math.Clamp(limit ?? 100, 1, 10_000), ct);
                return Results.Ok(metrics.Select(m => new MetricView(m.DeviceTimestamp, ToJson(ZMetricMsg.Parser.ParseFrom(m.Message)))));
            }));
        admin.MapGet("/devices/{device}/logs", QueryLogsAsync);
    }

    private static async Task<IResult> CreateOnboardingRequestAsync(CreateOnboardingRequest request, IControllerStore store, TimeProvider time, CancellationToken ct)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(request.CertificatePem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            return Results.BadRequest(new AdminError($"certificatePem is not a PEM certificate: {e.Message}"));
        }

        var serials = request.Serials.Select(s => s.Trim()).Where(s => s.Length > 0).Distinct().ToList();
        if (serials.Count == 0)
        {
            return Results.BadRequest(new AdminError("Give at least one serial number (or \"*\" to allow any)."));
        }

        var record = new OnboardingRecord(Guid.NewGuid(), string.IsNullOrWhiteSpace(request.Name) ? certificate.Subject : request.Name,
            request.CertificatePem, CertificateHashes.DerHex(certificate), serials, time.GetUtcNow(), false);
        try
        {
            await store.AddOnboardingAsync(record, ct);
        }
        catch (DuplicateRecordException e)
        {
            return Results.Conflict(new AdminError(e.Message));
        }

        return Results.Created($"/api/admin/onboarding/{record.Id}", ToView(record));
    }

    private static readonly Func<CreateOnboardingRequest, IControllerStore, TimeProvider, CancellationToken, Task<IResult>> CreateOnboardingAsync =
        CreateOnboardingRequestAsync;

    private static async Task<IResult> ShowDeviceAsync(string device, IControllerStore store, DeviceConfigService configs, TimeProvider time, CancellationToken ct) =>
        await WithDeviceAsync(store, device, ct, async record =>
        {
            var infos = await store.LatestInfoAsync(record.Id, ct);
            JsonElement? deviceInfo = null;
            ZInfoDevice? dinfo = null;
            var objects = new List<InfoView>();
            foreach (var info in infos)
            {
                var message = ZInfoMsg.Parser.ParseFrom(info.Message);
                var json = ToJson(message);
                if (message.InfoContentCase == ZInfoMsg.InfoContentOneofCase.Dinfo)
                {
                    deviceInfo = json;
                    dinfo = message.Dinfo;
                }
                else
                {
                    objects.Add(new InfoView(message.Ztype.ToString(), info.ObjectKey, info.DeviceTimestamp, json));
                }
            }

            var os = OsImageService.View(await configs.GetAsync(record.Id, ct) ?? new EdgeDevConfig(), dinfo);
            return Results.Ok(new DeviceDetail(await ViewAsync(record, store, time, ct), deviceInfo, objects, os));
        });

    private static async Task<IResult> SetConfigAsync(string device, HttpContext context, IControllerStore store, DeviceConfigService configs, CancellationToken ct) =>
        await WithDeviceAsync(store, device, ct, async record =>
        {
            // Refused before the body is read (a client that sent Expect: 100-continue never uploads it).
            var tooLarge = Results.Json(new AdminError(
                $"The config is larger than the {ConfigBounds.MaxConfigDocumentBytes / (1024 * 1024)} MiB a device config may be "
                + $"(an app's userData may hold at most {ConfigBounds.MaxUserDataBytes / 1024} KiB); nothing was stored."), statusCode: StatusCodes.Status413PayloadTooLarge);
            if (context.Request.ContentLength > ConfigBounds.MaxConfigDocumentBytes)
            {
                return tooLarge;
            }

            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = ConfigBounds.MaxConfigDocumentBytes;
            }

            using var reader = new StreamReader(context.Request.Body);
            EdgeDevConfig desired;
            try
            {
                desired = JsonParser.Default.Parse<EdgeDevConfig>(await reader.ReadToEndAsync(ct));
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return tooLarge;
            }
            catch (InvalidProtocolBufferException e)
            {
                return Results.BadRequest(new AdminError($"The body is not an EdgeDevConfig in protobuf JSON: {e.Message}"));
            }
            catch (InvalidJsonException e)
            {
                return Results.BadRequest(new AdminError($"The body is not valid JSON: {e.Message}"));
            }

            // PUT replaces the whole desired state; the service then restores id, version and certificate hash.
            var stored = await configs.UpdateAsync(record.Id, config =>
            {
                foreach (var field in EdgeDevConfig.Descriptor.Fields.InDeclarationOrder())
                {
                    field.Accessor.Clear(config);
                }

                config.MergeFrom(desired);
            }, ct);
            return ProtoJsonResult(stored);
        });

    private static async Task<IResult> RequestOperationAsync(string device, string operation, Func<EdgeDevConfig, DeviceOpsCmd?> get,
        Action<EdgeDevConfig, DeviceOpsCmd> set, IControllerStore store, DeviceConfigService configs, TimeProvider time, CancellationToken ct) =>
        await WithDeviceAsync(store, device, ct, async record =>
        {
            var firstEver = false;
            var stored = await configs.UpdateAsync(record.Id, config =>
            {
                var current = get(config);
                firstEver = current is null;
                set(config, new DeviceOpsCmd { Counter = (current?.Counter ?? 0) + 1, OpsTime = time.GetUtcNow().ToString("O") });
            }, ct);
            var note = firstEver
                ? $"This device's config had no {operation} counter yet: the device takes the first one as its baseline (EVE's rule) and does not {operation}. Run the command again once it has fetched this config."
                : null;
            return Results.Ok(new DeviceOperationView(operation, get(stored)!.Counter, note));
        });

    private static async Task QueryLogsAsync(HttpContext context, string device, long? after, int? limit, string? app, bool? follow,
        IControllerStore store, LogFeed feed, CancellationToken ct)
    {
        var record = await FindAsync(store, device, ct);
        if (record is null)
        {
            await Results.Json(new AdminError(new DeviceNotFoundException(device).Message), statusCode: 404).ExecuteAsync(context);
            return;
        }

        var position = after ?? 0;
        var pageSize = Math.Clamp(limit ?? 1000, 1, 10_000);
        if (follow != true)
        {
            var page = await store.QueryLogsAsync(record.Id, app, position, pageSize, ct);
            await Results.Ok(page.Select(ToView)).ExecuteAsync(context);
            return;
        }

        // Follow: newline-delimited JSON until the client goes away.
        context.Response.ContentType = "application/x-ndjson";
        while (!ct.IsCancellationRequested)
        {
            var page = await store.QueryLogsAsync(record.Id, app, position, pageSize, ct);
            foreach (var line in page)
            {
                await context.Response.WriteAsync(JsonSerializer.Serialize(ToView(line), JsonSerializerOptions.Web) + "\n", ct);
                position = line.Sequence;
            }

            await context.Response.Body.FlushAsync(ct);
            if (page.Count < pageSize)
            {
                await feed.WaitAsync(record.Id, TimeSpan.FromSeconds(2), ct);
            }
        }
    }

    private static async Task<IResult> WithDeviceAsync(IControllerStore store, string device, CancellationToken ct, Func<DeviceRecord, Task<IResult>> action)
    {
        var record = await FindAsync(store, device, ct);
        if (record is null)
        {
            return NotFound(new DeviceNotFoundException(device).Message);
        }

        try
        {
            return await action(record);
        }
        catch (ConfigValidationException e)
        {
            return Results.BadRequest(new AdminError(e.Message));
        }
    }

    /// <summary>Finds a device by UUID or by serial / soft serial.</summary>
    internal static async Task<DeviceRecord?> FindAsync(IControllerStore store, string idOrSerial, CancellationToken ct)
    {
        if (Guid.TryParse(idOrSerial, out var id))
        {
            return await store.GetDeviceAsync(id, ct);
        }

        var devices = await store.ListDevicesAsync(ct);
        return devices.FirstOrDefault(d => d.Serial == idOrSerial) ?? devices.FirstOrDefault(d => d.SoftSerial == idOrSerial);
    }

    private static async Task<DeviceView> ViewAsync(DeviceRecord device, IControllerStore store, TimeProvider time, CancellationToken ct)
    {
        var config = await store.GetConfigAsync(device.Id, ct);
        var version = config is null ? null : EdgeDevConfig.Parser.ParseFrom(config.Config).Id?.Version;
        var info = (await store.LatestInfoAsync(device.Id, ct)).FirstOrDefault(i => i.ObjectKey == "device");
        var hostname = info is null ? null : ZInfoMsg.Parser.ParseFrom(info.Message).Dinfo?.HostName;
        var online = device.LastSeenAt is { } seen && time.GetUtcNow() - seen < OnlineWindow;
        return new DeviceView(device.Id, device.Serial, device.SoftSerial, device.RegisteredAt, device.LastSeenAt, online,
            device.IntegrityToken is not null, device.AttestedWithoutTpm, version, hostname);
    }

    private static OnboardingView ToView(OnboardingRecord record) =>
        new(record.Id, record.Name, record.CertificateHash, record.AllowedSerials, record.CreatedAt, record.Revoked);

    private static LogView ToView(LogRecord record) =>
        new(record.Sequence, record.AppId, record.DeviceTimestamp, record.Severity, record.Source, record.Content, record.MessageId);

    private static JsonElement ToJson(IMessage message) => JsonDocument.Parse(ProtoJson.Format(message)).RootElement.Clone();

    private static IResult ProtoJsonResult(IMessage message) => Results.Text(ProtoJson.Format(message), "application/json");

    private static IResult NotFound(string message) => Results.NotFound(new AdminError(message));
}
