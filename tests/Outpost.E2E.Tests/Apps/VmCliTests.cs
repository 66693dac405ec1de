using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Outpost.Cli.Commands;
using Outpost.Controller;
using Outpost.Controller.Apps;
using Outpost.Controller.Configs;
using Outpost.Controller.Storage;
using Outpost.E2E.Tests.Apps.Infrastructure;

namespace Outpost.E2E.Tests.Apps;

/// <summary>
/// The CLI side of VM apps: `app deploy --vm` flags into the admin API's vm object (parsed in process), the same
/// command against a real controller, and `image push-disk` against a real registry.
/// </summary>
public sealed class VmCliTests : IDisposable
{
    private static readonly CancellationToken Ct = CancellationToken.None;

    private readonly string _root = Directory.CreateTempSubdirectory("outpost-vm-cli-").FullName;

    [Fact]
    public async Task Deploy_vm_flags_become_the_vm_object()
    {
        var cloudInit = Path.Combine(_root, "user-data");
        await File.WriteAllTextAsync(cloudInit, "#cloud-config\nhostname: vm1\n");

        var request = await DeployRequestAsync("--vm", "--memory", "1GiB", "--cpus", "2", "--cpu-set", "0-1", "--uefi",
            "--disk-format", "raw", "--disk-size", "8GiB", "--cloud-init", cloudInit, "--vnc");

        Assert.Equal(new VmSettings(1024, 2, "0-1", "uefi", "raw", 8L << 30, "#cloud-config\nhostname: vm1\n", true, null), request.Vm);
        Assert.Null(request.MemoryBytes);
        Assert.Null(request.Cpus);
        Assert.Equal(("vm", "127.0.0.1:5000/vm/disk:1"), (request.Name, request.Image));
    }

    [Fact]
    public async Task Disk_is_the_issue_s_short_name_for_disk_size()
    {
        var request = await DeployRequestAsync("--vm", "--disk", "8GiB");
        Assert.Equal(8L << 30, request.Vm!.DiskSizeBytes);
    }

    [Fact]
    public async Task Deploy_vm_alone_leaves_every_setting_to_the_controller_s_defaults_and_bios()
    {
        var request = await DeployRequestAsync("--vm");
        Assert.Equal(new VmSettings(BootMode: "bios"), request.Vm);
        Assert.Null(request.MemoryBytes);
    }

    [Fact]
    public async Task A_container_deploy_is_what_it_was_256M_and_one_cpu_without_a_vm()
    {
        var request = await DeployRequestAsync();
        Assert.Null(request.Vm);
        Assert.Equal((256L << 20, 1), (request.MemoryBytes, request.Cpus));
    }

    [Fact]
    public async Task Isolation_vm_asks_for_a_container_in_a_vm_and_is_refused_beside_vm()
    {
        var request = await DeployRequestAsync("--isolation", "vm");
        Assert.Equal(("vm", (string?)null), (request.Isolation, (string?)request.Vm?.BootMode));
        Assert.Null((await DeployRequestAsync()).Isolation);
        var error = await Assert.ThrowsAsync<CliException>(() => DeployRequestAsync("--vm", "--isolation", "vm"));
        Assert.Contains("--isolation applies to a container image", error.Message);
        Assert.NotEmpty(AppCommand.Create().Parse(DeployArguments("--isolation", "gvisor")).Errors);
    }

    [Fact]
    public async Task Vm_only_flags_without_vm_are_refused_naming_them()
    {
        var error = await Assert.ThrowsAsync<CliException>(() => DeployRequestAsync("--uefi", "--disk-size", "1G"));
        Assert.Contains("--uefi, --disk-size only apply to a VM; add --vm", error.Message);
    }

    [Fact]
    public async Task Vm_memory_that_is_not_whole_MiB_is_refused()
    {
        var error = await Assert.ThrowsAsync<CliException>(() => DeployRequestAsync("--vm", "--memory", "1000K"));
        Assert.Contains("not a whole number of MiB", error.Message);
    }

    [Fact]
    public async Task A_missing_cloud_init_file_is_refused()
    {
        var error = await Assert.ThrowsAsync<CliException>(() => DeployRequestAsync("--vm", "--cloud-init", Path.Combine(_root, "absent")));
        Assert.Contains("does not exist", error.Message);
    }

    [Fact]
    public void An_unknown_disk_format_is_a_parse_error()
    {
        var parse = AppCommand.Create().Parse(DeployArguments("--vm", "--disk-format", "vmdk"));
        Assert.NotEmpty(parse.Errors);
    }

    [Theory]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("1GiB", 1L << 30)]
    [InlineData("8G", 8L << 30)]
    [InlineData("256M", 256L << 20)]
    [InlineData("64MB", 64L << 20)]
    [InlineData("2T", 2L << 40)]
    [InlineData("4k", 4096)]
    [InlineData("1024", 1024)]
    public void Sizes_are_binary_units(string text, long bytes) => Assert.Equal(bytes, AppCommand.ParseSize(text));

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-1G")]
    [InlineData("1.5G")]
    [InlineData("10X")]
    [InlineData("99999999999999T")]
    public void Non_sizes_are_refused(string text) => Assert.Throws<CliException>(() => AppCommand.ParseSize(text));

    [Fact]
    public async Task Deploy_vm_against_a_controller_then_show_prints_the_vm_settings_and_a_refusal_says_what_to_change()
    {
        await using var controller = await ControllerHost.StartAsync(
            new ControllerOptions(Path.Combine(_root, "controller"), new IPEndPoint(IPAddress.Loopback, 0)), configureLogging: null, Ct);
        var deviceId = Guid.NewGuid();
        await controller.Services.GetRequiredService<IControllerStore>().AddDeviceAsync(
            new DeviceRecord(deviceId, "VM-CLI", "", "", Guid.NewGuid().ToString("N"), "", DateTimeOffset.UtcNow, null, false, null),
            controller.Services.GetRequiredService<DeviceConfigService>().CreateDefault(deviceId), Ct);
        string[] location = ["--device", "VM-CLI", "--controller", controller.BaseAddress.ToString(), "--token-file", controller.AdminTokenPath,
            "--ca-file", Path.Combine(controller.Options.PkiDirectory, "root-certificate.pem")];

        var deployed = await OutpostBinary.RunAsync(_root, ["app", "deploy", "--name", "vm", "--image", "127.0.0.1:5000/vm/disk:1", "--vm", "--memory", "768MiB",
            "--cpus", "2", "--uefi", "--disk-size", "4GiB", .. location]);
        var shown = await OutpostBinary.RunAsync(_root, ["app", "show", "vm", .. location]);
        var refused = await OutpostBinary.RunAsync(_root, ["app", "deploy", "--name", "big", "--image", "127.0.0.1:5000/vm/disk:1", "--vm", "--cpus", "65", .. location]);

        Assert.True(deployed.ExitCode == 0, deployed.Output + deployed.Error);
        Assert.Contains("Deployed VM vm", deployed.Output);
        Assert.True(shown.ExitCode == 0, shown.Output + shown.Error);
        var vm = JsonSerializer.Deserialize<AppView>(shown.Output, JsonSerializerOptions.Web)!.Vm;
        Assert.Equal(new VmSettings(768, 2, null, "uefi", "qcow2", 4L << 30, null, false, null), vm);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("--cpus between 1 and 64", refused.Error);
    }

    [Fact]
    public async Task Datastore_add_takes_a_type_that_agrees_with_the_url_and_deploy_accepts_an_https_disk_url()
    {
        // A web server with its own CA (the datastore's), serving one disk.
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var caFile = Path.Combine(_root, "web-ca.pem");
        await File.WriteAllTextAsync(caFile, certificate.ExportCertificatePem());
        var disk = RandomNumberGenerator.GetBytes(1 << 20);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        await using var web = builder.Build();
        web.MapGet("/images/vm.qcow2", () => Results.Bytes(disk, "application/octet-stream"));
        await web.StartAsync();
        var origin = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().Replace("[::]", "127.0.0.1");
        await using var controller = await ControllerHost.StartAsync(
            new ControllerOptions(Path.Combine(_root, "controller"), new IPEndPoint(IPAddress.Loopback, 0)), configureLogging: null, Ct);
        var deviceId = Guid.NewGuid();
        await controller.Services.GetRequiredService<IControllerStore>().AddDeviceAsync(
            new DeviceRecord(deviceId, "HTTP-CLI", "", "", Guid.NewGuid().ToString("N"), "", DateTimeOffset.UtcNow, null, false, null),
            controller.Services.GetRequiredService<DeviceConfigService>().CreateDefault(deviceId), Ct);
        string[] admin = ["--controller", controller.BaseAddress.ToString(), "--token-file", controller.AdminTokenPath,
            "--ca-file", Path.Combine(controller.Options.PkiDirectory, "root-certificate.pem")];

        var contradicting = await OutpostBinary.RunAsync(_root, ["datastore", "add", "--name", "web", "--url", origin + "/images", "--type", "oci", .. admin]);
        var added = await OutpostBinary.RunAsync(_root, ["datastore", "add", "--name", "web", "--url", origin + "/images", "--type", "http",
            "--datastore-ca-file", caFile, .. admin]);
        var deployed = await OutpostBinary.RunAsync(_root, ["app", "deploy", "--device", "HTTP-CLI", "--name", "vm", "--image", origin + "/images/vm.qcow2", "--vm", .. admin]);

        Assert.NotEqual(0, contradicting.ExitCode);
        Assert.Contains("Datastore type 'oci' contradicts its URL", contradicting.Error);
        Assert.True(added.ExitCode == 0, added.Output + added.Error);
        Assert.True(deployed.ExitCode == 0, deployed.Output + deployed.Error);
        var config = await controller.Services.GetRequiredService<DeviceConfigService>().GetAsync(deviceId, Ct);
        var content = Assert.Single(config!.ContentInfo);
        Assert.Equal("vm.qcow2", content.URL);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(disk)), content.Sha256);
        Assert.Equal(Org.Lfedge.Eve.Config.DsType.DsHttps, Assert.Single(config.Datastores).DType);
    }

    [Fact]
    public async Task Push_disk_pushes_a_qcow2_as_a_one_layer_disk_artifact_and_prints_its_digest()
    {
        using var registry = await RegistryServer.StartAsync();
        var disk = Path.Combine(_root, "small.qcow2");
        await ExternalTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", disk, "16M");

        var pushed = await OutpostBinary.RunAsync(_root, "image", "push-disk", disk, "--format", "qcow2", $"{registry.Host}/vm/small:1");

        Assert.True(pushed.ExitCode == 0, pushed.Output + pushed.Error);
        Assert.Contains("pushed   sha256:", pushed.Output);
        Assert.Contains("Pushed " + registry.Host + "/vm/small@sha256:", pushed.Output);
        Assert.Contains("--vm --disk-format qcow2", pushed.Output);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{registry.Host}/v2/vm/small/manifests/1");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        using var response = await http.SendAsync(request);
        var manifest = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var layer = Assert.Single(manifest.GetProperty("layers").EnumerateArray());
        Assert.Equal("application/vnd.lfedge.disk.layer.v1+qcow2", layer.GetProperty("mediaType").GetString());
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(disk))), layer.GetProperty("digest").GetString());
        Assert.Empty(Directory.GetDirectories(_root, ".outpost-push-disk-*"));
    }

    [Fact]
    public async Task Push_disk_refuses_a_qcow2_with_a_backing_file()
    {
        var baseDisk = Path.Combine(_root, "base.qcow2");
        var overlay = Path.Combine(_root, "overlay.qcow2");
        await ExternalTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", baseDisk, "16M");
        await ExternalTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-b", baseDisk, "-F", "qcow2", overlay);

        // Nothing listens on port 9: the refusal must come before any registry is contacted.
        var pushed = await OutpostBinary.RunAsync(_root, "image", "push-disk", overlay, "--format", "qcow2", "127.0.0.1:9/vm/overlay:1");

        Assert.Equal(1, pushed.ExitCode);
        Assert.Contains($"is a qcow2 overlay on the backing file {baseDisk}", pushed.Error);
        Assert.Contains("qemu-img convert -O qcow2", pushed.Error);
    }

    [Fact]
    public async Task Push_disk_refuses_a_file_that_is_not_the_format_given()
    {
        var raw = Path.Combine(_root, "disk.raw");
        await File.WriteAllBytesAsync(raw, new byte[1 << 20]);

        var pushed = await OutpostBinary.RunAsync(_root, "image", "push-disk", raw, "--format", "qcow2", "127.0.0.1:9/vm/raw:1");

        Assert.Equal(1, pushed.ExitCode);
        Assert.Contains("Check --format", pushed.Error);
    }

    private static string[] DeployArguments(params string[] extra) =>
        ["deploy", "--device", "dev1", "--name", "vm", "--image", "127.0.0.1:5000/vm/disk:1", .. extra];

    private static async Task<DeployAppRequest> DeployRequestAsync(params string[] extra)
    {
        var parse = AppCommand.Create().Parse(DeployArguments(extra));
        Assert.Empty(parse.Errors);
        return await AppCommand.Deploy.RequestAsync(parse, Ct);
    }

    public void Dispose()
    {
        // The controller's SQLite pool keeps its files open; release them before deleting.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }
}
