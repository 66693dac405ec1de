using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Org.Lfedge.Eve.Config;
using Outpost.Api.Configuration;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;

namespace Outpost.Controller.Tests;

/// <summary>A config the controller stores must be one a device can take: the admin API answers 400 (or 413) with the reason instead.</summary>
public sealed class ConfigValidationTests(ControllerFixture fixture) : IClassFixture<ControllerFixture>
{
    [Theory]
    [InlineData("../..")]
    [InlineData("/etc")]
    public async Task A_config_with_an_object_id_that_is_a_path_is_refused_with_400_and_app_list_still_works(string id)
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var config = new EdgeDevConfig();
        config.Volumes.Add(new Volume { Uuid = id, Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotBlank } });
        config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = id, Version = "1" }, Displayname = "x", VolumeRefList = { new VolumeRef { Uuid = id } } });

        using var put = await PutAsync(device.Serial, config);

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        var error = await put.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web);
        Assert.Contains($"its id '{id}' is not a UUID", error!.Error);
        using var admin = fixture.AdminClient();
        using var list = await admin.GetAsync($"api/admin/devices/{device.Serial}/apps");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Empty((await list.Content.ReadFromJsonAsync<List<AppView>>(JsonSerializerOptions.Web))!);
    }

    [Fact]
    public async Task A_config_with_a_dangling_reference_is_refused_with_400()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var config = new EdgeDevConfig();
        var missing = Guid.NewGuid().ToString();
        config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString() }, VolumeRefList = { new VolumeRef { Uuid = missing } } });

        using var put = await PutAsync(device.Serial, config);

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains($"its volume {missing} is not in the config", (await put.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
    }

    [Fact]
    public async Task A_config_with_ten_thousand_apps_is_refused_with_400_naming_the_bound()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var config = new EdgeDevConfig();
        for (var i = 0; i < 10_000; i++)
        {
            config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString() } });
        }

        using var put = await PutAsync(device.Serial, config);

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains($"10000 apps; a device takes at most {ConfigBounds.MaxApps}", (await put.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
    }

    [Fact]
    public async Task A_config_with_a_100_MB_user_data_is_refused_with_413_and_the_bounds()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var config = new EdgeDevConfig();
        config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString() }, UserData = new string('A', 100 * 1024 * 1024) });

        using var put = await PutAsync(device.Serial, config);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, put.StatusCode);
        Assert.Contains("at most 256 KiB", (await put.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
    }

    [Fact]
    public async Task A_user_data_over_the_per_app_bound_is_refused_with_400()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var config = new EdgeDevConfig();
        config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString() }, UserData = new string('A', 300 * 1024) });

        using var put = await PutAsync(device.Serial, config);

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains($"at most {ConfigBounds.MaxUserDataBytes} bytes", (await put.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
    }

    [Fact]
    public async Task A_new_device_gets_reboot_and_shutdown_counters_and_the_admin_api_bumps_them()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var first = ConfigResponse.Parser.ParseFrom(fixture.OpenSigned((await device.ConfigAsync()).Body).Span).Config;
        Assert.Equal(0u, first.Reboot.Counter);
        Assert.Equal(0u, first.Shutdown.Counter);

        using var admin = fixture.AdminClient();
        using var reboot = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/reboot", new { });
        using var shutdown = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/shutdown", new { });

        var rebootView = await reboot.Content.ReadFromJsonAsync<DeviceOperationView>(JsonSerializerOptions.Web);
        Assert.Equal(("reboot", 1u, (string?)null), (rebootView!.Operation, rebootView.Counter, rebootView.Note));
        var config = ConfigResponse.Parser.ParseFrom(fixture.OpenSigned((await device.ConfigAsync()).Body).Span).Config;
        Assert.Equal(1u, config.Reboot.Counter);
        Assert.Equal(1u, config.Shutdown.Counter);
        Assert.NotEmpty(config.Reboot.OpsTime);
    }

    [Fact]
    public async Task Deploying_with_a_restart_policy_puts_it_into_the_app_and_an_unknown_policy_is_400()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        using var admin = fixture.AdminClient();
        using var deployed = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new DeployAppRequest("svc", "127.0.0.1:5000/svc:1", null, null, null, null, null, "on-failure"));
        Assert.Equal(HttpStatusCode.Created, deployed.StatusCode);
        Assert.Equal("on-failure", (await deployed.Content.ReadFromJsonAsync<AppView>(JsonSerializerOptions.Web))!.Restart);
        var config = ConfigResponse.Parser.ParseFrom(fixture.OpenSigned((await device.ConfigAsync()).Body).Span).Config;
        Assert.Equal(OutpostRestartPolicy.OnFailure, config.Apps.Single().Outpost.RestartPolicy);

        using var wrong = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new DeployAppRequest("svc2", "127.0.0.1:5000/svc:1", null, null, null, null, null, "sometimes"));
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Contains("Unknown restart policy 'sometimes'", (await wrong.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
    }

    private async Task<HttpResponseMessage> PutAsync(string device, EdgeDevConfig config)
    {
        using var admin = fixture.AdminClient();
        var json = JsonFormatter.Default.Format(config);
        using var request = new HttpRequestMessage(HttpMethod.Put, $"api/admin/devices/{device}/config")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        // As the CLI sends a config: the controller can refuse a too large one before it is uploaded.
        request.Headers.ExpectContinue = true;
        return await admin.SendAsync(request);
    }
}
