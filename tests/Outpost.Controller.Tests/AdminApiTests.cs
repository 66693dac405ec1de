using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Org.Lfedge.Eve.Config;
using Outpost.Controller.AdminApi;

namespace Outpost.Controller.Tests;

public sealed class AdminApiTests(ControllerFixture fixture) : IClassFixture<ControllerFixture>
{
    [Fact]
    public async Task Admin_call_without_a_token_is_401()
    {
        using var response = await fixture.Http.GetAsync("api/admin/devices");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Admin_call_with_a_wrong_token_is_401()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/admin/devices");
        request.Headers.Authorization = new("Bearer", "0123456789");
        using var response = await fixture.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task OpenApi_document_lists_the_admin_routes()
    {
        var document = await fixture.Http.GetStringAsync("api/admin/openapi/admin.json");
        Assert.Contains("/api/admin/devices/{device}/config", document);
        Assert.Contains("/api/admin/onboarding", document);
    }

    [Fact]
    public async Task Onboarding_created_through_the_api_lets_its_serial_register()
    {
        using var admin = fixture.AdminClient();
        var onboarding = TestCertificates.SelfSigned("api onboarding");
        using var created = await admin.PostAsJsonAsync("api/admin/onboarding",
            new CreateOnboardingRequest("api", Outpost.Api.Certificates.Pem.Certificate(onboarding), ["API-1"]));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var device = new TestDevice(fixture, onboarding, TestCertificates.SelfSigned("api device"), "API-1");
        Assert.Equal(HttpStatusCode.Created, (await device.RegisterAsync()).Status);

        var list = await admin.GetFromJsonAsync<List<OnboardingView>>("api/admin/onboarding", JsonSerializerOptions.Web);
        Assert.Contains(list!, o => o.Serials.Contains("API-1"));
    }

    [Fact]
    public async Task Setting_a_config_item_bumps_the_version_and_the_device_sees_a_new_config()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        var first = ConfigResponse.Parser.ParseFrom(fixture.OpenSigned((await device.ConfigAsync()).Body).Span);

        using var admin = fixture.AdminClient();
        using var put = await admin.PutAsJsonAsync($"api/admin/devices/{device.Serial}/config/items/timer.config.interval", new ConfigItemValue("10"));
        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);

        var second = await device.ConfigAsync(first.ConfigHash);
        Assert.Equal(HttpStatusCode.OK, second.Status);
        var config = ConfigResponse.Parser.ParseFrom(fixture.OpenSigned(second.Body).Span);
        Assert.Equal("10", config.Config.ConfigItems.Single(i => i.Key == "timer.config.interval").Value);
        Assert.Equal(long.Parse(first.Config.Id.Version) + 1, long.Parse(config.Config.Id.Version));
        Assert.True(config.Config.ConfigTimestamp.ToDateTimeOffset() >= first.Config.ConfigTimestamp.ToDateTimeOffset());
    }

    [Fact]
    public async Task Device_list_and_show_find_a_device_by_serial_and_delete_removes_it()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        using var admin = fixture.AdminClient();
        var devices = await admin.GetFromJsonAsync<List<DeviceView>>("api/admin/devices", JsonSerializerOptions.Web);
        var view = Assert.Single(devices!, d => d.Serial == device.Serial);
        Assert.True(view.Attested);
        Assert.True(view.AttestedWithoutTpm);

        using var show = await admin.GetAsync($"api/admin/devices/{device.Serial}");
        Assert.Equal(HttpStatusCode.OK, show.StatusCode);
        using var delete = await admin.DeleteAsync($"api/admin/devices/{device.Uuid}");
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        using var gone = await admin.GetAsync($"api/admin/devices/{device.Uuid}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await device.ConfigAsync()).Status);
    }

    [Fact]
    public async Task Replacing_the_config_with_malformed_json_is_400()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        using var admin = fixture.AdminClient();
        using var response = await admin.PutAsync($"api/admin/devices/{device.Uuid}/config",
            new StringContent("{\"apps\": 5}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}

public sealed class TpmPolicyTests : IAsyncLifetime
{
    private readonly ControllerFixture _fixture = new() { AllowDevicesWithoutTpm = false };

    public Task InitializeAsync() => _fixture.InitializeAsync();

    public Task DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task A_device_without_a_tpm_gets_no_token_when_the_policy_requires_one()
    {
        var device = await _fixture.NewDeviceAsync();
        var exception = await Record.ExceptionAsync(device.OnboardAsync);
        Assert.NotNull(exception);
        Assert.Contains("QuoteFailed", exception.Message);
    }

    [Fact]
    public async Task The_pki_is_reused_on_restart()
    {
        var rootBefore = _fixture.Host.Pki.RootPem;
        var signingBefore = _fixture.Host.Pki.SigningPem;
        using var again = Outpost.Controller.Pki.ControllerPki.LoadOrCreate(Path.Combine(_fixture.DataDirectory, "pki"), ["127.0.0.1", "localhost"]);
        Assert.Equal(rootBefore, again.RootPem);
        Assert.Equal(signingBefore, again.SigningPem);
        await Task.CompletedTask;
    }
}
