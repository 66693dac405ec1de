using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Org.Lfedge.Eve.Config;
using Outpost.Controller.Apps;
using Outpost.Controller.Configs;
using Outpost.Controller.Storage;
using Outpost.Controller.Tests.Storage;

namespace Outpost.Controller.Tests.Apps;

/// <summary>
/// A VM app's settings live in the device's stored config (EVE's fields, no table of their own), so a restarted
/// controller shows and sends the same VM: checked on the embedded SQLite store and on PostgreSQL.
/// </summary>
public sealed class VmAppPersistenceTests(PostgresServer postgres) : IClassFixture<PostgresServer>, IDisposable
{
    private static readonly VmSettings Settings = new(768, 3, "2-4", "uefi", "raw", 4L << 30, "#cloud-config\nruncmd: [touch, /ok]\n", true, null);

    private readonly string _dataDirectory = Directory.CreateTempSubdirectory("outpost-vm-persist-").FullName;

    [Fact]
    public Task A_vm_app_survives_a_controller_restart_on_sqlite() => SurvivesRestartAsync(storeConnection: null);

    [Fact]
    public async Task A_vm_app_survives_a_controller_restart_on_postgres() =>
        await SurvivesRestartAsync("postgres:" + await postgres.CreateDatabaseAsync());

    private async Task SurvivesRestartAsync(string? storeConnection)
    {
        var deviceId = Guid.NewGuid();
        await using (var first = await StartAsync(storeConnection))
        {
            var store = first.Services.GetRequiredService<IControllerStore>();
            var configs = first.Services.GetRequiredService<DeviceConfigService>();
            await store.AddDeviceAsync(new DeviceRecord(deviceId, "VM-PERSIST", "", "", Guid.NewGuid().ToString("N"), "", DateTimeOffset.UtcNow, null, false, null),
                configs.CreateDefault(deviceId), CancellationToken.None);
            using var admin = AdminClient(first);
            using var deployed = await admin.PostAsJsonAsync($"api/admin/devices/{deviceId}/apps",
                new DeployAppRequest("vm", "127.0.0.1:5000/vm/disk:1", null, null, null, null, null, Vm: Settings));
            Assert.Equal(HttpStatusCode.Created, deployed.StatusCode);
        }

        await using var second = await StartAsync(storeConnection);
        using (var admin = AdminClient(second))
        {
            var shown = await admin.GetFromJsonAsync<AppView>($"api/admin/devices/{deviceId}/apps/vm", JsonSerializerOptions.Web);
            Assert.Equal(Settings, shown!.Vm);
        }

        var config = await second.Services.GetRequiredService<DeviceConfigService>().GetAsync(deviceId, CancellationToken.None);
        var app = config!.Apps.Single();
        Assert.Equal((768u * 1024, 3u, "2-4", VmMode.Hvm, VmBootMode.Uefi, true),
            (app.Fixedresources.Memory, app.Fixedresources.Vcpus, app.Fixedresources.Cpus, app.Fixedresources.VirtualizationMode, app.Fixedresources.BootMode, app.Fixedresources.EnableVnc));
        Assert.Equal(4L << 30, config.Volumes.Single().Maxsizebytes);
        Assert.Equal(Format.Raw, config.ContentInfo.Single().Iformat);
    }

    private Task<ControllerHost> StartAsync(string? storeConnection) =>
        ControllerHost.StartAsync(
            new ControllerOptions(_dataDirectory, new IPEndPoint(IPAddress.Loopback, 0)) { StoreConnection = storeConnection },
            configureLogging: null,
            CancellationToken.None);

    private static HttpClient AdminClient(ControllerHost host)
    {
        var client = ControllerFixture.CreateClient(host.BaseAddress, host.Pki.Root);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(host.AdminTokenPath).Trim());
        return client;
    }

    public void Dispose()
    {
        // The SQLite pool keeps the WAL files open; release them before deleting.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dataDirectory, recursive: true);
    }
}
