using Outpost.Controller.Configs;
using Outpost.Controller.OsImages;
using Outpost.Controller.Storage;

namespace Outpost.Controller.AdminApi;

/// <summary>Admin routes for base-OS updates: the pushed OS versions and each device's desired OS; each change bumps the device's config version.</summary>
internal static class OsEndpoints
{
    public static void MapOsApi(this WebApplication app)
    {
        var admin = app.MapGroup("/api/admin").AddEndpointFilter<AdminTokenFilter>().WithTags("os");

        admin.MapGet("/os-images", (OsImageService os, CancellationToken ct) => os.ListAsync(ct));

        admin.MapGet("/devices/{device}/os", (string device, IControllerStore store, OsImageService os, CancellationToken ct) =>
            WithDevice(store, device, async record => Results.Ok(await os.ViewAsync(record.Id, ct)), ct));
        admin.MapPut("/devices/{device}/os", (string device, SetDeviceOsRequest request, IControllerStore store, OsImageService os, CancellationToken ct) =>
            WithDevice(store, device, async record => Results.Ok(await os.SetDesiredAsync(record.Id, request, ct)), ct));
        admin.MapDelete("/devices/{device}/os", (string device, IControllerStore store, OsImageService os, CancellationToken ct) =>
            WithDevice(store, device, async record => Results.Ok(await os.ClearAsync(record.Id, ct)), ct));
        admin.MapPost("/devices/{device}/os/retry", (string device, IControllerStore store, OsImageService os, CancellationToken ct) =>
            WithDevice(store, device, async record => Results.Ok(await os.RetryAsync(record.Id, ct)), ct));
        admin.MapPost("/devices/{device}/os/rollback", (string device, IControllerStore store, OsImageService os, CancellationToken ct) =>
            WithDevice(store, device, async record => Results.Ok(await os.RollbackAsync(record.Id, ct)), ct));
        admin.MapPost("/devices/{device}/os/commit", (string device, IControllerStore store, OsImageService os, CancellationToken ct) =>
            WithDevice(store, device, async record => Results.Ok(await os.CommitAsync(record.Id, ct)), ct));
    }

    private static async Task<IResult> WithDevice(IControllerStore store, string device, Func<DeviceRecord, Task<IResult>> action, CancellationToken ct)
    {
        var record = await AdminEndpoints.FindAsync(store, device, ct);
        if (record is null)
        {
            return Results.NotFound(new AdminError(new DeviceNotFoundException(device).Message));
        }

        try
        {
            return await action(record);
        }
        catch (OsRequestException e)
        {
            return Results.BadRequest(new AdminError(e.Message));
        }
        catch (ConfigValidationException e)
        {
            return Results.BadRequest(new AdminError(e.Message));
        }
    }
}
