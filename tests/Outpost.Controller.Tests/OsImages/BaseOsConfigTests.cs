using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Api;
using Outpost.Api.OsImages;
using Outpost.Controller.OsImages;
using Outpost.Image.OsImages;

namespace Outpost.Controller.Tests.OsImages;

/// <summary>
/// `outpost device update|rollback|commit` through the admin API, checked on what a device gets over the real device
/// API: EdgeDevConfig.baseos (26) naming a ContentTree (20) that pins the pushed manifest in the controller's registry
/// through a DatastoreConfig (6), and the config items (11) that steer the A/B switch — by EVE's field numbers.
/// </summary>
public sealed class BaseOsConfigTests(ControllerFixture fixture) : IClassFixture<ControllerFixture>, IAsyncLifetime
{
    private static readonly SemaphoreSlim PushOnce = new(1, 1);
    private static readonly Dictionary<string, OsImageArtifactContent> Pushed = [];

    public async Task InitializeAsync()
    {
        await PushOnce.WaitAsync();
        try
        {
            // One push per version for the whole class (the fixture, and so its registry, is shared).
            foreach (var version in new[] { "0.2.0", "0.3.0" })
            {
                var key = fixture.DataDirectory + version;
                if (!Pushed.ContainsKey(key))
                    Pushed[key] = await OsTestImages.CreateAndPushAsync(fixture.Host, fixture.DataDirectory, version);
            }
        }
        finally
        {
            PushOnce.Release();
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private OsImageArtifactContent Image(string version) => Pushed[fixture.DataDirectory + version];

    private async Task<TestDevice> OnboardedAsync()
    {
        var device = await fixture.NewDeviceAsync();
        await device.OnboardAsync();
        return device;
    }

    private async Task<EdgeDevConfig> DeviceConfigAsync(TestDevice device)
    {
        var response = await device.ConfigAsync();
        Assert.True(response.Status == HttpStatusCode.OK, $"config answered {response.Status}: {response.Error}");
        return ConfigResponse.Parser.ParseFrom(fixture.OpenSigned(response.Body).Span).Config;
    }

    private static async Task<HttpResponseMessage> UpdateAsync(HttpClient admin, TestDevice device, SetDeviceOsRequest request) =>
        await admin.PutAsJsonAsync($"api/admin/devices/{device.Serial}/os", request);

    private static string Item(EdgeDevConfig config, string key) => config.ConfigItems.FirstOrDefault(i => i.Key == key)?.Value ?? "(absent)";

    [Fact]
    public async Task Device_update_puts_baseos_26_its_content_tree_20_and_datastore_6_into_the_config_the_device_gets()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();

        using var response = await UpdateAsync(admin, device, new SetDeviceOsRequest("0.2.0"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var raw = (await DeviceConfigAsync(device)).ToByteArray();
        var top = Wire.Fields(raw);
        var baseos = Wire.Fields(Assert.Single(top[26]).Bytes);
        var treeId = Assert.Single(baseos[1]).Text;
        Assert.Equal(OsImageService.ContentTreeId("0.2.0"), treeId);
        Assert.Equal(0UL, Assert.Single(Wire.Fields(Assert.Single(baseos[2]).Bytes).GetValueOrDefault(2) ?? [new WireValue(0, [])]).Varint);
        Assert.Equal(1UL, Assert.Single(baseos[3]).Varint); // activate
        Assert.Equal("0.2.0", Assert.Single(baseos[4]).Text); // base_os_version

        var tree = Wire.Fields(top[20].Single(t => Wire.Fields(t.Bytes)[1].Single().Text == treeId).Bytes);
        Assert.Equal($"{OsImageArtifact.Repository}:0.2.0", Assert.Single(tree[3]).Text); // URL
        Assert.Equal((ulong)Format.Container, Assert.Single(tree[4]).Varint); // iformat CONTAINER = 8
        Assert.Equal(8UL, Assert.Single(tree[4]).Varint);
        Assert.Equal(Image("0.2.0").Digest.Hex, Assert.Single(tree[5]).Text); // sha256 = the manifest digest
        var datastoreId = Assert.Single(tree[11]).Text; // ds_ids_list
        Assert.Equal(datastoreId, Assert.Single(tree[2]).Text); // dsId, for older EVE

        var datastore = Wire.Fields(top[6].Single(d => Wire.Fields(d.Bytes)[100].Single().Text == datastoreId).Bytes);
        Assert.Equal((ulong)DsType.DsContainerRegistry, Assert.Single(datastore[1]).Varint); // 5
        Assert.Equal($"docker://{fixture.Host.ServerAddress}", Assert.Single(datastore[2]).Text);
        Assert.Contains("BEGIN CERTIFICATE", Assert.Single(datastore[8]).Text); // dsCertPEM: the controller's root
        Assert.Equal(fixture.Host.Pki.RootPem, Assert.Single(datastore[8]).Text);
    }

    [Fact]
    public async Task The_content_tree_names_an_image_the_controller_registry_serves_at_that_digest()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();
        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.3.0"))).EnsureSuccessStatusCode();

        var config = await DeviceConfigAsync(device);
        var tree = config.ContentInfo.Single(c => c.Uuid == config.Baseos.ContentTreeUuid);
        using var manifest = await fixture.Http.GetAsync($"/v2/{tree.URL.Replace(":", "/manifests/")}");

        Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
        Assert.Equal("sha256:" + tree.Sha256, manifest.Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Fact]
    public async Task Updating_to_a_version_that_is_not_in_the_registry_is_400_naming_the_pushed_ones_and_changes_nothing()
    {
        var device = await OnboardedAsync();
        var before = await DeviceConfigAsync(device);
        using var admin = fixture.AdminClient();

        using var response = await UpdateAsync(admin, device, new SetDeviceOsRequest("9.9.9"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await response.Content.ReadAsStringAsync();
        Assert.Contains("9.9.9", error);
        Assert.Contains("outpost os push", error);
        Assert.Contains("0.2.0", error);
        var after = await DeviceConfigAsync(device);
        Assert.Equal(before.Id.Version, after.Id.Version);
        Assert.Null(after.Baseos);
    }

    [Fact]
    public async Task Updating_an_unknown_device_is_404()
    {
        using var admin = fixture.AdminClient();

        using var response = await admin.PutAsJsonAsync("api/admin/devices/no-such-serial/os", new SetDeviceOsRequest("0.2.0"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Retry_bumps_retry_update_counter_and_keeps_it_across_versions()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();
        using (var noDesired = await admin.PostAsync($"api/admin/devices/{device.Serial}/os/retry", null))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noDesired.StatusCode);
            Assert.Contains("--version", await noDesired.Content.ReadAsStringAsync());
        }

        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.2.0"))).EnsureSuccessStatusCode();
        var first = await admin.PostAsync($"api/admin/devices/{device.Serial}/os/retry", null);
        var second = await admin.PostAsync($"api/admin/devices/{device.Serial}/os/retry", null);

        Assert.Equal(2u, (await second.Content.ReadFromJsonAsync<OsCounterView>(JsonSerializerOptions.Web))!.Counter);
        Assert.Equal(1u, (await first.Content.ReadFromJsonAsync<OsCounterView>(JsonSerializerOptions.Web))!.Counter);
        var config = await DeviceConfigAsync(device);
        Assert.Equal(2u, config.Baseos.RetryUpdate.Counter);
        Assert.Equal("0.2.0", config.Baseos.BaseOsVersion);

        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.3.0"))).EnsureSuccessStatusCode();
        var moved = await DeviceConfigAsync(device);
        Assert.Equal(2u, moved.Baseos.RetryUpdate.Counter);
        // The old version's content tree went with it; only the new one is left.
        Assert.DoesNotContain(moved.ContentInfo, c => c.Uuid == OsImageService.ContentTreeId("0.2.0"));
        Assert.Single(moved.ContentInfo, c => c.Uuid == OsImageService.ContentTreeId("0.3.0"));
    }

    [Fact]
    public async Task Rollback_bumps_force_fallback_counter_and_commit_bumps_the_commit_counter()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();

        var rollback = await (await admin.PostAsync($"api/admin/devices/{device.Serial}/os/rollback", null)).Content.ReadFromJsonAsync<OsCounterView>(JsonSerializerOptions.Web);
        Assert.Equal("1", Item(await DeviceConfigAsync(device), "force.fallback.counter"));
        Assert.Equal(1u, rollback!.Counter);
        await admin.PostAsync($"api/admin/devices/{device.Serial}/os/rollback", null);
        Assert.Equal("2", Item(await DeviceConfigAsync(device), "force.fallback.counter"));

        using var commit = await admin.PostAsync($"api/admin/devices/{device.Serial}/os/commit", null);
        Assert.Equal(HttpStatusCode.OK, commit.StatusCode);
        var config = await DeviceConfigAsync(device);
        Assert.Equal("1", Item(config, "outpost.baseos.commit.counter"));
        Assert.Equal("2", Item(config, "force.fallback.counter"));

        // On the wire: ConfigItem{key=1, value=2} in field 11.
        var items = Wire.Fields(config.ToByteArray())[11].Select(i => Wire.Fields(i.Bytes)).ToDictionary(i => i[1].Single().Text, i => i[2].Single().Text);
        Assert.Equal("1", items["outpost.baseos.commit.counter"]);
    }

    [Fact]
    public async Task Manual_commit_is_a_config_item_set_with_the_update_and_cleared_by_an_update_without_it()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();

        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.2.0", ManualCommit: true))).EnsureSuccessStatusCode();
        Assert.Equal("true", Item(await DeviceConfigAsync(device), "outpost.baseos.manual.commit"));

        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.2.0"))).EnsureSuccessStatusCode();
        Assert.Equal("(absent)", Item(await DeviceConfigAsync(device), "outpost.baseos.manual.commit"));
    }

    [Fact]
    public async Task Download_only_sends_activate_false()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();

        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.2.0", DownloadOnly: true))).EnsureSuccessStatusCode();

        var config = await DeviceConfigAsync(device);
        Assert.False(config.Baseos.Activate);
        Assert.False(Wire.Fields(config.Baseos.ToByteArray()).ContainsKey(3)); // proto3: false is not on the wire
    }

    [Fact]
    public async Task Clear_removes_baseos_its_content_tree_and_manual_commit()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();
        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.2.0", ManualCommit: true))).EnsureSuccessStatusCode();

        using var clear = await admin.DeleteAsync($"api/admin/devices/{device.Serial}/os");

        Assert.Equal(HttpStatusCode.OK, clear.StatusCode);
        var config = await DeviceConfigAsync(device);
        Assert.Null(config.Baseos);
        Assert.DoesNotContain(config.ContentInfo, c => c.Uuid == OsImageService.ContentTreeId("0.2.0"));
        Assert.Equal("(absent)", Item(config, "outpost.baseos.manual.commit"));
    }

    [Fact]
    public async Task The_same_version_gives_every_device_the_same_content_tree_and_setting_it_again_keeps_the_config_hash_steady()
    {
        var a = await OnboardedAsync();
        var b = await OnboardedAsync();
        using var admin = fixture.AdminClient();
        (await UpdateAsync(admin, a, new SetDeviceOsRequest("0.2.0"))).EnsureSuccessStatusCode();
        (await UpdateAsync(admin, b, new SetDeviceOsRequest("0.2.0"))).EnsureSuccessStatusCode();

        var configA = await DeviceConfigAsync(a);
        var configB = await DeviceConfigAsync(b);
        Assert.Equal(configA.Baseos.ContentTreeUuid, configB.Baseos.ContentTreeUuid);

        // Everything but the version and timestamp is the same after asking for the same thing again.
        (await UpdateAsync(admin, a, new SetDeviceOsRequest("0.2.0"))).EnsureSuccessStatusCode();
        var again = await DeviceConfigAsync(a);
        Assert.Equal(Stable(configA), Stable(again));
    }

    private static ByteString Stable(EdgeDevConfig config)
    {
        var copy = config.Clone();
        copy.Id.Version = "";
        copy.ConfigTimestamp = null;
        return copy.ToByteString();
    }

    [Fact]
    public async Task A_device_sees_only_its_own_baseos()
    {
        var updated = await OnboardedAsync();
        var other = await OnboardedAsync();
        using var admin = fixture.AdminClient();

        (await UpdateAsync(admin, updated, new SetDeviceOsRequest("0.3.0"))).EnsureSuccessStatusCode();
        (await admin.PostAsync($"api/admin/devices/{updated.Serial}/os/rollback", null)).EnsureSuccessStatusCode();

        var config = await DeviceConfigAsync(other);
        Assert.Null(config.Baseos);
        Assert.DoesNotContain(config.ContentInfo, c => c.URL.StartsWith(OsImageArtifact.Repository, StringComparison.Ordinal));
        Assert.Equal("(absent)", Item(config, "force.fallback.counter"));
        Assert.Equal("0.3.0", (await DeviceConfigAsync(updated)).Baseos.BaseOsVersion);
    }

    [Fact]
    public async Task Deleting_the_apps_content_keeps_the_os_content_tree()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();
        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.2.0"))).EnsureSuccessStatusCode();
        using var deploy = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new Outpost.Controller.Apps.DeployAppRequest("web", "127.0.0.1:5000/web:1", null, null, null, null, null));
        Assert.Equal(HttpStatusCode.Created, deploy.StatusCode);

        (await admin.DeleteAsync($"api/admin/devices/{device.Serial}/apps/web")).EnsureSuccessStatusCode();

        var config = await DeviceConfigAsync(device);
        Assert.Single(config.ContentInfo, c => c.Uuid == config.Baseos.ContentTreeUuid);
    }

    [Fact]
    public async Task Os_list_shows_the_pushed_versions_with_their_digest()
    {
        using var admin = fixture.AdminClient();

        var images = await admin.GetFromJsonAsync<List<OsImageView>>("api/admin/os-images", JsonSerializerOptions.Web);

        var image = Assert.Single(images!, i => i.Version == "0.2.0");
        Assert.Equal(Image("0.2.0").Digest.ToString(), image.Digest);
        Assert.True(image.Signed);
        Assert.Null(image.Problem);
        Assert.True(image.SizeBytes > 512 * 1024);
    }

    [Fact]
    public async Task Device_show_lists_the_desired_os_and_every_slot_the_device_reported()
    {
        var device = await OnboardedAsync();
        using var admin = fixture.AdminClient();
        (await UpdateAsync(admin, device, new SetDeviceOsRequest("0.2.0", ManualCommit: true))).EnsureSuccessStatusCode();
        var info = new ZInfoMsg
        {
            Ztype = ZInfoTypes.ZiDevice,
            DevId = device.Uuid,
            AtTimeStamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            Dinfo = new ZInfoDevice
            {
                BaseosUpdateCounter = 0,
                SwList =
                {
                    new ZInfoDevSW
                    {
                        PartitionLabel = "IMGB", PartitionState = "inprogress", Activated = true, ShortVersion = "0.2.0", Status = ZSwState.Installed,
                        UserStatus = BaseOsStatus.Updating, SubStatus = BaseOsSubStatus.UpdateTesting, SubStatusStr = "testing", SubStatusProgress = 412,
                        DownloadProgress = 100,
                    },
                    new ZInfoDevSW
                    {
                        PartitionLabel = "IMGA", PartitionState = "active", Activated = false, ShortVersion = "0.1.0", Status = ZSwState.Installed,
                        UserStatus = BaseOsStatus.Fallback, SwErr = new ErrorInfo { Description = "an earlier try failed" },
                    },
                },
            },
        };
        Assert.Equal(HttpStatusCode.Created, (await device.PostAsync(DeviceApiPaths.Info(device.Uuid), device.Signer.Seal(info))).Status);

        var detail = await admin.GetFromJsonAsync<JsonElement>($"api/admin/devices/{device.Serial}", JsonSerializerOptions.Web);

        var os = detail.GetProperty("os");
        Assert.Equal("0.2.0", os.GetProperty("desired").GetProperty("version").GetString());
        Assert.True(os.GetProperty("desired").GetProperty("manualCommit").GetBoolean());
        var slots = os.GetProperty("slots").EnumerateArray().ToList();
        Assert.Equal(2, slots.Count);
        Assert.Equal("IMGB", slots[0].GetProperty("label").GetString());
        Assert.Equal("inprogress", slots[0].GetProperty("partitionState").GetString());
        Assert.True(slots[0].GetProperty("activated").GetBoolean());
        Assert.Equal("0.2.0", slots[0].GetProperty("shortVersion").GetString());
        Assert.Equal("INSTALLED", slots[0].GetProperty("status").GetString());
        Assert.Equal("UPDATING", slots[0].GetProperty("userStatus").GetString());
        Assert.Equal("UPDATE_TESTING", slots[0].GetProperty("subStatus").GetString());
        Assert.Equal(412u, slots[0].GetProperty("subStatusProgress").GetUInt32());
        Assert.Equal(100u, slots[0].GetProperty("downloadProgress").GetUInt32());
        Assert.Equal("FALLBACK", slots[1].GetProperty("userStatus").GetString());
        Assert.Equal("an earlier try failed", slots[1].GetProperty("error").GetString());

        var view = await admin.GetFromJsonAsync<DeviceOsView>($"api/admin/devices/{device.Serial}/os", JsonSerializerOptions.Web);
        Assert.Equal(0u, view!.ReportedUpdateCounter);
        Assert.Equal("IMGB", view.Slots[0].Label);
    }

    [Theory]
    [InlineData("GET", "api/admin/os-images")]
    [InlineData("GET", "api/admin/devices/x/os")]
    [InlineData("PUT", "api/admin/devices/x/os")]
    [InlineData("DELETE", "api/admin/devices/x/os")]
    [InlineData("POST", "api/admin/devices/x/os/retry")]
    [InlineData("POST", "api/admin/devices/x/os/rollback")]
    [InlineData("POST", "api/admin/devices/x/os/commit")]
    public async Task Os_admin_endpoints_need_the_admin_token(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = method is "PUT" ? new StringContent("{\"version\":\"0.2.0\"}", Encoding.UTF8, "application/json") : null,
        };

        using var response = await fixture.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}

/// <summary>One field occurrence on the protobuf wire: a varint, or the bytes of a length-delimited field.</summary>
internal sealed record WireValue(ulong Varint, byte[] Bytes)
{
    public string Text => Encoding.UTF8.GetString(Bytes);
}

/// <summary>Reads a message's fields by number straight off the wire, so tests hold the encoding to EVE's numbers.</summary>
internal static class Wire
{
    public static Dictionary<int, List<WireValue>> Fields(byte[] message)
    {
        var fields = new Dictionary<int, List<WireValue>>();
        var input = new CodedInputStream(message);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var value = WireFormat.GetTagWireType(tag) switch
            {
                WireFormat.WireType.Varint => new WireValue(input.ReadUInt64(), []),
                WireFormat.WireType.LengthDelimited => new WireValue(0, input.ReadBytes().ToByteArray()),
                WireFormat.WireType.Fixed64 => new WireValue(input.ReadFixed64(), []),
                WireFormat.WireType.Fixed32 => new WireValue(input.ReadFixed32(), []),
                var other => throw new InvalidDataException($"unexpected wire type {other}"),
            };
            var number = WireFormat.GetTagFieldNumber(tag);
            if (!fields.TryGetValue(number, out var list))
                fields[number] = list = [];
            list.Add(value);
        }

        return fields;
    }
}
