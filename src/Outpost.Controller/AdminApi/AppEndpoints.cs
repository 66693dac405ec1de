using Outpost.Controller.Apps;
using Outpost.Controller.Configs;
using Outpost.Controller.Storage;

namespace Outpost.Controller.AdminApi;

/// <summary>Admin routes for datastores and container apps; each change bumps the device's config version.</summary>
internal static class AppEndpoints
{
    public static void MapAppApi(this WebApplication app)
    {
        var admin = app.MapGroup("/api/admin").AddEndpointFilter<AdminTokenFilter>().WithTags("apps");

        admin.MapGet("/datastores", (AppService apps, CancellationToken ct) => apps.ListDatastoresAsync(ct));
        admin.MapPost("/datastores", (CreateDatastoreRequest request, AppService apps, CancellationToken ct) =>
            Guarded(async () => Results.Ok(await apps.SaveDatastoreAsync(request, ct))));

        admin.MapGet("/devices/{device}/apps", (string device, IControllerStore store, AppService apps, CancellationToken ct) =>
            WithDevice(store, device, ct, async record => Results.Ok(await apps.ListAsync(record.Id, ct))));
        admin.MapPost("/devices/{device}/apps", (string device, DeployAppRequest request, IControllerStore store, AppService apps, CancellationToken ct) =>
            WithDevice(store, device, ct, async record =>
            {
                var view = await apps.DeployAsync(record.Id, request, ct);
                return Results.Created($"/api/admin/devices/{record.Id}/apps/{view.Id}", view);
            }));
        admin.MapGet("/devices/{device}/apps/{app}", (string device, string app, IControllerStore store, AppService apps, CancellationToken ct) =>
            WithDevice(store, device, ct, async record =>
            {
                var id = await apps.ResolveAsync(record.Id, app, ct);
                return Results.Ok((await apps.ListAsync(record.Id, ct)).Single(a => a.Id == id));
            }));
        admin.MapPost("/devices/{device}/apps/{app}/{action}", (string device, string app, string action, IControllerStore store, AppService apps, CancellationToken ct) =>
            WithDevice(store, device, ct, async record =>
            {
                if (!Enum.TryParse<AppAction>(action, ignoreCase: true, out var parsed))
                {
                    return Results.BadRequest(new AdminError($"Unknown action '{action}'; use start, stop, restart or purge."));
                }

                return Results.Ok(await apps.ActAsync(record.Id, app, parsed, ct));
            }));
        admin.MapDelete("/devices/{device}/apps/{app}", (string device, string app, IControllerStore store, AppService apps, CancellationToken ct) =>
            WithDevice(store, device, ct, async record =>
            {
                await apps.DeleteAsync(record.Id, app, ct);
                return Results.NoContent();
            }));
    }

    private static Task<IResult> WithDevice(IControllerStore store, string device, CancellationToken ct, Func<DeviceRecord, Task<IResult>> action) =>
        Guarded(async () =>
        {
            var record = await AdminEndpoints.FindAsync(store, device, ct);
            return record is null ? Results.NotFound(new AdminError(new DeviceNotFoundException(device).Message)) : await action(record);
        });

    private static async Task<IResult> Guarded(Func<Task<IResult>> action)
    {
        try
        {
            return await action();
        }
        catch (AppRequestException e)
        {
            return Results.BadRequest(new AdminError(e.Message));
        }
        catch (ConfigValidationException e)
        {
            return Results.BadRequest(new AdminError(e.Message));
        }
        catch (AppNotFoundException e)
        {
            return Results.NotFound(new AdminError(e.Message));
        }
    }
}
