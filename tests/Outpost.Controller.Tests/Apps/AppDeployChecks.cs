using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Org.Lfedge.Eve.Config;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;

namespace Outpost.Controller.Tests.Apps;

/// <summary>What the app deploy tests do with a fixture: an onboarded device, the config it would get, and a refused deploy.</summary>
internal static class AppDeployChecks
{
    public static async Task<TestDevice> OnlineDeviceAsync(this ControllerFixture fixture)
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        return device;
    }

    /// <summary>The config the device fetches, its signature checked.</summary>
    public static async Task<EdgeDevConfig> DeviceConfigAsync(this ControllerFixture fixture, TestDevice device)
    {
        var response = await device.ConfigAsync();
        Assert.Equal(HttpStatusCode.OK, response.Status);
        return ConfigResponse.Parser.ParseFrom(fixture.OpenSigned(response.Body).Span).Config;
    }

    /// <summary>The deploy is a 400 whose message holds every <paramref name="expected"/> part, and nothing reached the device.</summary>
    public static async Task AssertDeployRefusedAsync(this ControllerFixture fixture, DeployAppRequest request, params string[] expected)
    {
        var device = await fixture.OnlineDeviceAsync();
        using var admin = fixture.AdminClient();

        using var response = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps", request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error;
        foreach (var part in expected)
        {
            Assert.Contains(part, error);
        }

        Assert.Empty((await fixture.DeviceConfigAsync(device)).Apps);
    }
}
