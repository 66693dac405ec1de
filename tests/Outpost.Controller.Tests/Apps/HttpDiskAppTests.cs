using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Config;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;

namespace Outpost.Controller.Tests.Apps;

/// <summary>
/// VM apps whose disk is a file on an HTTP datastore: the controller finds the datastore the URL lies under, reads
/// the file once from a real web server on 127.0.0.1 for its sha256 and size, and sends EVE's content tree (datastore
/// id, relative URL, format, sha256, maxSizeBytes). Every bad input is a 400 that says what to change.
/// </summary>
public sealed class HttpDiskAppTests(ControllerFixture fixture) : IClassFixture<ControllerFixture>, IAsyncLifetime
{
    private readonly string _files = Directory.CreateTempSubdirectory("outpost-http-disks-").FullName;
    private WebApplication? _server;
    private int _port;

    // Every test's files (and datastores) lie below its own path: the controller's datastores outlive a test, and a port may come back.
    private readonly string _unique = Guid.NewGuid().ToString("N")[..12];

    private string Origin => $"http://127.0.0.1:{_port}";

    private string Base => $"{Origin}/{_unique}";

    public async Task InitializeAsync()
    {
        _port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, _port));
        _server = builder.Build();
        _server.Run(async context =>
        {
            var file = Path.Combine(_files, (context.Request.Path.Value ?? "").TrimStart('/'));
            if (!File.Exists(file))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            context.Response.ContentLength = new FileInfo(file).Length;
            await context.Response.SendFileAsync(file, context.RequestAborted);
        });
        await _server.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }

        Directory.Delete(_files, recursive: true);
    }

    [Theory]
    [InlineData("sub/vm.qcow2", null, Format.Qcow2)]
    [InlineData("vm.img", null, Format.Raw)]
    [InlineData("vm.raw", null, Format.Raw)]
    [InlineData("installer.iso", null, Format.Iso)]
    [InlineData("disk.bin", "raw", Format.Raw)]
    [InlineData("looks.iso", "qcow2", Format.Qcow2)]
    public async Task A_vm_from_an_http_url_gets_a_content_tree_with_the_datastore_the_relative_url_its_format_sha256_and_size(
        string path, string? diskFormat, Format expected)
    {
        var datastore = await AddDatastoreAsync($"{Base}/images");
        var (sha256, size) = Serve("images/" + path);
        var device = await fixture.OnlineDeviceAsync();

        var view = await DeployAsync(device, "vm", $"{Base}/images/{path}", new VmSettings(DiskFormat: diskFormat));

        var config = await fixture.DeviceConfigAsync(device);
        var app = config.Apps.Single(a => a.Displayname == "vm");
        var volume = config.Volumes.Single(v => v.Uuid == app.VolumeRefList.Single().Uuid);
        var content = config.ContentInfo.Single(c => c.Uuid == volume.Origin.DownloadContentTreeID);
        Assert.Equal([datastore.Id.ToString()], content.DsIdsList);
        Assert.Equal(datastore.Id.ToString(), content.DsId);
        Assert.Equal(path, content.URL);
        Assert.Equal(expected, content.Iformat);
        Assert.Equal(sha256, content.Sha256);
        Assert.Equal((ulong)size, content.MaxSizeBytes);
        var sent = config.Datastores.Single(d => d.Id == datastore.Id.ToString());
        Assert.Equal(DsType.DsHttp, sent.DType);
        Assert.Equal(Origin, sent.Fqdn);
        Assert.Equal(_unique + "/images", sent.Dpath);
        Assert.Equal(VmMode.Hvm, app.Fixedresources.VirtualizationMode);
        Assert.Equal($"{Base}/images/{path}", view.Image);
        Assert.Equal(expected.ToString().ToLowerInvariant(), view.Vm!.DiskFormat);
    }

    [Fact]
    public async Task The_datastore_named_by_datastore_is_used()
    {
        // Without --datastore the longer prefix (the images one) would win.
        var named = await AddDatastoreAsync(Base);
        await AddDatastoreAsync($"{Base}/images");
        Serve("images/vm.qcow2");
        var device = await fixture.OnlineDeviceAsync();

        await DeployAsync(device, "vm", $"{Base}/images/vm.qcow2", new VmSettings(), named.Name);

        var content = (await fixture.DeviceConfigAsync(device)).ContentInfo.Single();
        Assert.Equal([named.Id.ToString()], content.DsIdsList);
        Assert.Equal("images/vm.qcow2", content.URL);
    }

    [Fact]
    public async Task A_url_under_no_datastore_is_400()
    {
        Serve("orphan/vm.qcow2");
        await fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", $"{Base}/orphan/vm.qcow2", null, null, null, null, null, Vm: new VmSettings()),
            $"No datastore's URL is a prefix of {Base}/orphan/vm.qcow2", "outpost datastore add");
    }

    [Fact]
    public async Task A_url_outside_the_named_datastore_is_400()
    {
        var named = await AddDatastoreAsync($"{Base}/images");
        Serve("elsewhere/vm.qcow2");
        await fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", $"{Base}/elsewhere/vm.qcow2", null, null, null, null, named.Name, Vm: new VmSettings()),
            $"is not below datastore '{named.Name}'");
    }

    [Fact]
    public async Task An_unreachable_url_is_400()
    {
        var closed = $"http://127.0.0.1:{FreePort()}";
        await AddDatastoreAsync($"{closed}/images");
        await fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", $"{closed}/images/vm.qcow2", null, null, null, null, null, Vm: new VmSettings()),
            $"{closed}/images/vm.qcow2 cannot be read", "it must reach the datastore too");
    }

    [Fact]
    public async Task A_url_the_server_does_not_have_is_400_with_the_status()
    {
        await AddDatastoreAsync($"{Base}/images");
        await fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", $"{Base}/images/missing.qcow2", null, null, null, null, null, Vm: new VmSettings()),
            "answered 404 Not Found", "Check the URL");
    }

    [Fact]
    public async Task A_url_without_a_disk_extension_or_disk_format_is_400()
    {
        await AddDatastoreAsync($"{Base}/images");
        Serve("images/disk.bin");
        await fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", $"{Base}/images/disk.bin", null, null, null, null, null, Vm: new VmSettings()),
            "cannot be told from its extension ('.bin')", "give --disk-format qcow2, raw or iso");
    }

    [Fact]
    public async Task An_http_url_for_a_container_app_is_400()
    {
        await AddDatastoreAsync($"{Base}/images");
        Serve("images/vm.qcow2");
        await fixture.AssertDeployRefusedAsync(new DeployAppRequest("box", $"{Base}/images/vm.qcow2", 64L << 20, 1, null, null, null),
            "only a VM app boots: add --vm");
    }

    [Fact]
    public async Task A_datastore_type_that_contradicts_the_url_scheme_is_400()
    {
        using var admin = fixture.AdminClient();
        using var response = await admin.PostAsJsonAsync("api/admin/datastores",
            new CreateDatastoreRequest("ds-" + Guid.NewGuid().ToString("N")[..8], $"{Base}/images", null, null, null, "oci"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error;
        Assert.Contains("Datastore type 'oci' contradicts its URL", error);
        Assert.Contains("Fix --type or --url", error);
    }

    [Fact]
    public async Task A_registry_url_given_type_http_is_400()
    {
        using var admin = fixture.AdminClient();
        using var response = await admin.PostAsJsonAsync("api/admin/datastores",
            new CreateDatastoreRequest("ds-" + Guid.NewGuid().ToString("N")[..8], "docker://127.0.0.1:5000", null, null, null, "http"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Datastore type 'http' contradicts its URL docker://127.0.0.1:5000, which is an OCI registry",
            (await response.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
    }

    [Theory]
    [InlineData("http", "http://127.0.0.1:1/images")]
    [InlineData("HTTP", "https://127.0.0.1:1/images")]
    [InlineData("oci", "docker://127.0.0.1:5000")]
    public async Task A_datastore_type_that_agrees_with_the_scheme_is_accepted(string type, string url)
    {
        using var admin = fixture.AdminClient();
        using var response = await admin.PostAsJsonAsync("api/admin/datastores",
            new CreateDatastoreRequest("ds-" + Guid.NewGuid().ToString("N")[..8], url, null, null, null, type));

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    private (string Sha256, long Size) Serve(string path)
    {
        var file = Path.Combine(_files, _unique, path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var bytes = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        File.WriteAllBytes(file, bytes);
        return (Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length);
    }

    private async Task<DatastoreView> AddDatastoreAsync(string url)
    {
        using var admin = fixture.AdminClient();
        using var response = await admin.PostAsJsonAsync("api/admin/datastores",
            new CreateDatastoreRequest("ds-" + Guid.NewGuid().ToString("N")[..8], url, null, null, null));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"datastore add answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<DatastoreView>(JsonSerializerOptions.Web))!;
    }

    private async Task<AppView> DeployAsync(TestDevice device, string name, string image, VmSettings vm, string? datastore = null)
    {
        using var admin = fixture.AdminClient();
        using var response = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new DeployAppRequest(name, image, null, null, null, null, datastore, Vm: vm));
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"deploy answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<AppView>(JsonSerializerOptions.Web))!;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
