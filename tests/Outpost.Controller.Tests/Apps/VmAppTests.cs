using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Org.Lfedge.Eve.Config;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;

namespace Outpost.Controller.Tests.Apps;

/// <summary>
/// VM apps through the admin API: what the device then finds in its config (EVE's VmConfig, ContentTree, Volume and
/// userData), what `GET` shows, and every refusal as a 400 that says what to change.
/// </summary>
public sealed class VmAppTests(ControllerFixture fixture) : IClassFixture<ControllerFixture>
{
    private const string DiskImage = "127.0.0.1:5000/vm/debian:12";

    private static readonly VmSettings Full = new(
        MemoryMiB: 1024,
        Vcpus: 2,
        CpuSet: "0-1",
        BootMode: "uefi",
        DiskFormat: "qcow2",
        DiskSizeBytes: 8L << 30,
        CloudInit: "#cloud-config\nhostname: vm1\n",
        EnableVnc: true,
        KernelArgs: "console=ttyS0");

    [Fact]
    public async Task A_vm_app_reaches_the_device_as_eve_vm_config_content_tree_volume_and_user_data()
    {
        var device = await fixture.OnlineDeviceAsync();

        var view = await DeployAsync(device, "vm1", Full);

        var config = await fixture.DeviceConfigAsync(device);
        var app = config.Apps.Single(a => a.Displayname == "vm1");
        var volume = config.Volumes.Single(v => v.Uuid == app.VolumeRefList.Single().Uuid);
        var content = config.ContentInfo.Single(c => c.Uuid == volume.Origin.DownloadContentTreeID);
        Assert.Equal(Format.Qcow2, content.Iformat);
        Assert.Equal("vm/debian:12", content.URL);
        Assert.Equal(VolumeContentOriginType.VcotDownload, volume.Origin.Type);
        Assert.Equal(8L << 30, volume.Maxsizebytes);
        Assert.False(volume.Readonly);
        var resources = app.Fixedresources;
        Assert.Equal(1024u * 1024, resources.Memory);
        Assert.Equal(2u, resources.Vcpus);
        Assert.Equal("0-1", resources.Cpus);
        Assert.Equal(VmMode.Hvm, resources.VirtualizationMode);
        Assert.Equal(VmBootMode.Uefi, resources.BootMode);
        Assert.True(resources.EnableVnc);
        Assert.Equal("console=ttyS0", resources.Extraargs);
        Assert.Equal(Convert.ToBase64String(Encoding.UTF8.GetBytes(Full.CloudInit!)), app.UserData);
        Assert.Equal(MetaDataType.MetaDataDrive, app.MetaDataType);
        Assert.True(app.Activate);
        Assert.Equal(Full, view.Vm);
        Assert.Equal(1024L << 20, view.MemoryBytes);
        Assert.Equal(2, view.Cpus);
    }

    [Fact]
    public async Task A_vm_without_settings_gets_the_defaults_bios_qcow2_512_MiB_one_vcpu_and_the_image_s_size()
    {
        var device = await fixture.OnlineDeviceAsync();

        var view = await DeployAsync(device, "plain", new VmSettings());

        var app = (await fixture.DeviceConfigAsync(device)).Apps.Single(a => a.Displayname == "plain");
        Assert.Equal(512u * 1024, app.Fixedresources.Memory);
        Assert.Equal(1u, app.Fixedresources.Vcpus);
        Assert.Equal("", app.Fixedresources.Cpus);
        Assert.Equal(VmBootMode.Legacy, app.Fixedresources.BootMode);
        Assert.False(app.Fixedresources.EnableVnc);
        Assert.Equal("", app.UserData);
        Assert.Equal(new VmSettings(512, 1, null, "bios", "qcow2", 0, null, false, null), view.Vm);
    }

    [Fact]
    public async Task A_raw_disk_and_an_iso_get_their_formats_and_the_iso_s_volume_is_read_only()
    {
        var device = await fixture.OnlineDeviceAsync();

        await DeployAsync(device, "raw", new VmSettings(DiskFormat: "raw", DiskSizeBytes: 1L << 30));
        await DeployAsync(device, "installer", new VmSettings(DiskFormat: "ISO", BootMode: "BIOS"));

        var config = await fixture.DeviceConfigAsync(device);
        (Volume Volume, ContentTree Content) Disk(string name)
        {
            var app = config.Apps.Single(a => a.Displayname == name);
            var volume = config.Volumes.Single(v => v.Uuid == app.VolumeRefList.Single().Uuid);
            return (volume, config.ContentInfo.Single(c => c.Uuid == volume.Origin.DownloadContentTreeID));
        }

        Assert.Equal(Format.Raw, Disk("raw").Content.Iformat);
        Assert.Equal(1L << 30, Disk("raw").Volume.Maxsizebytes);
        Assert.False(Disk("raw").Volume.Readonly);
        Assert.Equal(Format.Iso, Disk("installer").Content.Iformat);
        Assert.Equal(0, Disk("installer").Volume.Maxsizebytes);
        Assert.True(Disk("installer").Volume.Readonly);
        Assert.Equal(VmBootMode.Legacy, config.Apps.Single(a => a.Displayname == "installer").Fixedresources.BootMode);
    }

    [Fact]
    public async Task Get_and_list_show_a_vm_app_s_settings_and_a_container_app_has_none()
    {
        var device = await fixture.OnlineDeviceAsync();
        await DeployAsync(device, "vm", Full);
        using var admin = fixture.AdminClient();
        using var container = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new DeployAppRequest("box", "127.0.0.1:5000/busybox:1", 64L << 20, 1, new Dictionary<string, string> { ["A"] = "1" }, null, null));
        Assert.Equal(HttpStatusCode.Created, container.StatusCode);

        var shown = await admin.GetFromJsonAsync<AppView>($"api/admin/devices/{device.Serial}/apps/vm", JsonSerializerOptions.Web);
        var listed = await admin.GetFromJsonAsync<List<AppView>>($"api/admin/devices/{device.Serial}/apps", JsonSerializerOptions.Web);

        Assert.Equal(Full, shown!.Vm);
        Assert.Equal(DiskImage, shown.Image);
        Assert.Equal(Full, listed!.Single(a => a.Name == "vm").Vm);
        Assert.Null(listed!.Single(a => a.Name == "box").Vm);
        Assert.Equal("none", listed!.Single(a => a.Name == "box").Isolation);
        Assert.Equal("none", shown.Isolation);
        // A container is exactly what it was before VM apps existed.
        var config = await fixture.DeviceConfigAsync(device);
        var box = config.Apps.Single(a => a.Displayname == "box");
        Assert.Equal(VmMode.Nohyper, box.Fixedresources.VirtualizationMode);
        Assert.Equal(64u * 1024, box.Fixedresources.Memory);
        Assert.Equal(VmBootMode.Unspecified, box.Fixedresources.BootMode);
        Assert.Equal("A=1\n", Encoding.UTF8.GetString(Convert.FromBase64String(box.UserData)));
        var boxVolume = config.Volumes.Single(v => v.Uuid == box.VolumeRefList.Single().Uuid);
        Assert.Equal(0, boxVolume.Maxsizebytes);
        Assert.False(boxVolume.Readonly);
        Assert.Equal(Format.Container, config.ContentInfo.Single(c => c.Uuid == boxVolume.Origin.DownloadContentTreeID).Iformat);
    }

    [Fact]
    public async Task A_container_deployed_with_vm_isolation_reaches_the_device_as_hvm_with_its_container_image_and_shows_it()
    {
        var device = await fixture.OnlineDeviceAsync();
        using var admin = fixture.AdminClient();
        using var response = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new DeployAppRequest("boxed", "127.0.0.1:5000/busybox:1", 64L << 20, 1, null, null, null, Isolation: "vm"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("vm", (await response.Content.ReadFromJsonAsync<AppView>(JsonSerializerOptions.Web))!.Isolation);

        var config = await fixture.DeviceConfigAsync(device);
        var app = config.Apps.Single(a => a.Displayname == "boxed");
        // EVE's VM isolation of an OCI app: HVM with a container content tree (a VM app has a disk image instead).
        Assert.Equal(VmMode.Hvm, app.Fixedresources.VirtualizationMode);
        var volume = config.Volumes.Single(v => v.Uuid == app.VolumeRefList.Single().Uuid);
        Assert.Equal(Format.Container, config.ContentInfo.Single(c => c.Uuid == volume.Origin.DownloadContentTreeID).Iformat);
        var listed = await admin.GetFromJsonAsync<List<AppView>>($"api/admin/devices/{device.Serial}/apps", JsonSerializerOptions.Web);
        Assert.Equal("vm", listed!.Single(a => a.Name == "boxed").Isolation);
    }

    [Fact]
    public Task Vm_isolation_of_a_vm_app_is_400() =>
        fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", DiskImage, null, null, null, null, null, Vm: new VmSettings(), Isolation: "vm"),
            "--isolation vm applies to a container image");

    [Fact]
    public Task An_unknown_isolation_is_400() =>
        fixture.AssertDeployRefusedAsync(new DeployAppRequest("box", "127.0.0.1:5000/busybox:1", 64L << 20, 1, null, null, null, Isolation: "gvisor"),
            "Unknown isolation 'gvisor'", "none", "vm");

    [Fact]
    public async Task A_kernel_and_initrd_become_eve_kernel_and_initrd_volumes_beside_the_disk_and_go_with_the_app()
    {
        var device = await fixture.OnlineDeviceAsync();
        var shown = await DeployAsync(device, "direct", new VmSettings(KernelArgs: "console=ttyS0 quiet",
            Kernel: "127.0.0.1:5000/vm/vmlinuz:1", Initrd: "127.0.0.1:5000/vm/initrd:1"));

        Assert.Equal(("127.0.0.1:5000/vm/vmlinuz:1", "127.0.0.1:5000/vm/initrd:1"), (shown.Vm!.Kernel, shown.Vm.Initrd));
        var config = await fixture.DeviceConfigAsync(device);
        var app = config.Apps.Single();
        Assert.Equal("console=ttyS0 quiet", app.Fixedresources.Extraargs);
        var volumes = app.VolumeRefList.Select(r => config.Volumes.Single(v => v.Uuid == r.Uuid)).ToList();
        Assert.Equal([Target.TgtUnknown, Target.Kernel, Target.Initrd], volumes.Select(v => v.Target));
        var kernel = config.ContentInfo.Single(c => c.Uuid == volumes[1].Origin.DownloadContentTreeID);
        Assert.Equal((Format.Raw, "vm/vmlinuz:1"), (kernel.Iformat, kernel.URL));
        Assert.True(volumes[1].Readonly && volumes[2].Readonly);
        // The boot files share the image's datastore.
        Assert.Equal(config.ContentInfo.Single(c => c.Uuid == volumes[0].Origin.DownloadContentTreeID).DsId, kernel.DsId);

        using var admin = fixture.AdminClient();
        using var deleted = await admin.DeleteAsync($"api/admin/devices/{device.Serial}/apps/direct");
        Assert.True(deleted.IsSuccessStatusCode, deleted.StatusCode.ToString());
        config = await fixture.DeviceConfigAsync(device);
        Assert.Empty(config.Volumes);
        Assert.Empty(config.ContentInfo);
    }

    [Fact]
    public Task An_initrd_without_a_kernel_is_400() =>
        AssertRefusedAsync(new VmSettings(Initrd: "127.0.0.1:5000/vm/initrd:1"), "vm.initrd is given without vm.kernel", "--kernel");

    [Fact]
    public Task A_kernel_from_another_registry_is_400() =>
        AssertRefusedAsync(new VmSettings(Kernel: "10.9.9.9:5000/vm/vmlinuz:1"), "in another registry than the image", "push it next to the image");

    [Fact]
    public Task A_kernel_that_is_not_a_reference_is_400() =>
        AssertRefusedAsync(new VmSettings(Kernel: "not a reference!"), "vm.kernel 'not a reference!' is not an image reference", "push-disk");

    [Fact]
    public async Task The_bounds_themselves_are_accepted()
    {
        var device = await fixture.OnlineDeviceAsync();

        await DeployAsync(device, "small", new VmSettings(MemoryMiB: 64, Vcpus: 1, CpuSet: "1023", DiskSizeBytes: 16L << 40,
            CloudInit: new string('x', VmPlan.MaxCloudInitBytes)));
        await DeployAsync(device, "large", new VmSettings(MemoryMiB: 1024 * 1024, Vcpus: 64, CpuSet: "0-3,6,8-8", DiskFormat: "iso", DiskSizeBytes: 0));

        var config = await fixture.DeviceConfigAsync(device);
        Assert.Equal(1024u * 1024 * 1024, config.Apps.Single(a => a.Displayname == "large").Fixedresources.Memory);
        Assert.Equal(64u * 1024, config.Apps.Single(a => a.Displayname == "small").Fixedresources.Memory);
    }

    [Fact]
    public Task Memory_below_64_MiB_is_400() =>
        AssertRefusedAsync(new VmSettings(MemoryMiB: 63), "vm.memoryMiB is 63: a VM needs at least 64 MiB", "--memory 64MiB or more");

    [Fact]
    public Task Memory_above_1_TiB_is_400() =>
        AssertRefusedAsync(new VmSettings(MemoryMiB: 1024 * 1024 + 1), "at most 1 TiB (1048576 MiB)", "--memory 1TiB or less");

    [Fact]
    public Task Zero_vcpus_is_400() =>
        AssertRefusedAsync(new VmSettings(Vcpus: 0), "vm.vcpus is 0: a VM has 1 to 64 vCPUs", "--cpus between 1 and 64");

    [Fact]
    public Task More_than_64_vcpus_is_400() =>
        AssertRefusedAsync(new VmSettings(Vcpus: 65), "vm.vcpus is 65", "--cpus between 1 and 64");

    [Theory]
    [InlineData("3-0", "the range '3-0' descends; write it as 0-3")]
    [InlineData("0-1024", "'0-1024' names a CPU at or above 1024")]
    [InlineData("0,,2", "it has an empty entry")]
    [InlineData("0-3,", "it has an empty entry")]
    [InlineData("a", "'a' is neither a CPU number nor a range N-M")]
    [InlineData("1-2-3", "'1-2-3' is neither")]
    [InlineData("-1", "'-1' is neither")]
    [InlineData("0 - 3", "'0 - 3' is neither")]
    [InlineData("0-7:2", "'0-7:2' is neither")]
    public Task A_cpu_set_that_is_not_a_linux_cpu_list_is_400(string cpuSet, string reason) =>
        AssertRefusedAsync(new VmSettings(CpuSet: cpuSet), $"vm.cpuSet '{cpuSet}' is not a Linux CPU list: {reason}", "e.g. 0-3,6");

    [Fact]
    public Task An_unknown_boot_mode_is_400() =>
        AssertRefusedAsync(new VmSettings(BootMode: "coreboot"), "Unknown vm.bootMode 'coreboot'", "use bios", "or uefi");

    [Fact]
    public Task An_unknown_disk_format_is_400() =>
        AssertRefusedAsync(new VmSettings(DiskFormat: "vmdk"), "Unknown vm.diskFormat 'vmdk'", "use qcow2 (the default), raw or iso");

    [Fact]
    public Task A_negative_disk_size_is_400() =>
        AssertRefusedAsync(new VmSettings(DiskSizeBytes: -1), "vm.diskSizeBytes is negative (-1)", "0 to keep the image's size");

    [Fact]
    public Task A_disk_over_16_TiB_is_400() =>
        AssertRefusedAsync(new VmSettings(DiskSizeBytes: (16L << 40) + 1), "a VM disk is at most 16 TiB", "smaller --disk-size");

    [Fact]
    public Task Cloud_init_over_64_KiB_is_400_naming_eve_s_limit() =>
        AssertRefusedAsync(new VmSettings(CloudInit: new string('x', VmPlan.MaxCloudInitBytes + 1)),
            $"vm.cloudInit is {VmPlan.MaxCloudInitBytes + 1} bytes", "EVE's practical limit for an app's user data", "Shorten the --cloud-init file");

    [Fact]
    public Task An_iso_with_a_disk_size_is_400_because_a_cd_rom_is_read_only() =>
        AssertRefusedAsync(new VmSettings(DiskFormat: "iso", DiskSizeBytes: 1L << 30), "CD-ROM, which is read-only", "drop vm.diskSizeBytes (--disk-size)");

    [Fact]
    public Task Vm_settings_without_an_image_are_400() =>
        fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", "", null, null, null, null, null, Vm: new VmSettings()),
            "A VM app boots from a disk image: give --image", "outpost image push-disk");

    [Fact]
    public Task Container_memory_and_cpus_beside_vm_settings_are_400() =>
        fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", DiskImage, 256L << 20, 2, null, null, null, Vm: new VmSettings()),
            "vm.memoryMiB and vm.vcpus; leave memoryBytes and cpus out");

    [Fact]
    public Task A_container_environment_beside_vm_settings_is_400() =>
        fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", DiskImage, null, null, new Dictionary<string, string> { ["A"] = "1" }, null, null, Vm: new VmSettings()),
            "no container environment or command", "vm.cloudInit");

    [Fact]
    public Task Kernel_args_on_several_lines_are_400() =>
        AssertRefusedAsync(new VmSettings(KernelArgs: "console=ttyS0\ninit=/bin/sh"), "vm.kernelArgs must be one line");

    [Fact]
    public async Task The_vm_object_is_camel_case_json_with_strings_for_modes()
    {
        var device = await fixture.OnlineDeviceAsync();
        using var admin = fixture.AdminClient();
        const string body = """
            {"name": "json", "image": "127.0.0.1:5000/vm/debian:12",
             "vm": {"memoryMiB": 256, "vcpus": 2, "cpuSet": "0-1", "bootMode": "uefi", "diskFormat": "raw",
                    "diskSizeBytes": 2147483648, "cloudInit": "#cloud-config\n", "enableVnc": true, "kernelArgs": null}}
            """;
        using var response = await admin.PostAsync($"api/admin/devices/{device.Serial}/apps", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("vm");
        Assert.Equal(256, json.GetProperty("memoryMiB").GetInt64());
        Assert.Equal("uefi", json.GetProperty("bootMode").GetString());
        Assert.Equal("raw", json.GetProperty("diskFormat").GetString());
        Assert.Equal(2147483648, json.GetProperty("diskSizeBytes").GetInt64());
        Assert.True(json.GetProperty("enableVnc").GetBoolean());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0-3,6")]
    [InlineData("1,0")]
    [InlineData("0-0,2-1023")]
    public void Linux_cpu_lists_are_accepted(string list) => Assert.Null(CpuList.Problem(list));

    [Fact]
    public async Task Host_devices_become_eve_physical_io_and_adapters_go_to_one_app_at_a_time_and_are_released_on_delete()
    {
        var device = await fixture.OnlineDeviceAsync();
        var settings = new VmSettings(Usb: ["0403:6001", "1:2.3"], Serial: ["/dev/ttyS1"], Pci: ["0000:03:00.0"]);

        var view = await DeployAsync(device, "io-vm", settings);

        var config = await fixture.DeviceConfigAsync(device);
        var app = config.Apps.Single(a => a.Displayname == "io-vm");
        Assert.Equal(["usb-0403-6001", "usb-1-2.3", "serial-ttyS1", "pci-0000-03-00.0"], app.Adapters.Select(a => a.Name));
        var serial = config.DeviceIoList.Single(io => io.Assigngrp == "serial-ttyS1");
        Assert.Equal(Org.Lfedge.Eve.Common.PhyIoType.PhyIoCom, serial.Ptype);
        Assert.Equal("/dev/ttyS1", serial.Phyaddrs["serial"]);
        Assert.Equal("0403:6001", config.DeviceIoList.Single(io => io.Assigngrp == "usb-0403-6001").Phyaddrs["usbproduct"]);
        Assert.Equal("0000:03:00.0", config.DeviceIoList.Single(io => io.Assigngrp == "pci-0000-03-00.0").Phyaddrs["pcilong"]);
        Assert.Equal(["0403:6001", "1:2.3"], view.Vm!.Usb!);
        Assert.Equal(["/dev/ttyS1"], view.Vm.Serial!);
        Assert.Equal(["0000:03:00.0"], view.Vm.Pci!);

        using var admin = fixture.AdminClient();
        using (var taken = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new DeployAppRequest("second", DiskImage, null, null, null, null, null, Vm: new VmSettings(Serial: ["/dev/ttyS1"]))))
        {
            Assert.Equal(HttpStatusCode.BadRequest, taken.StatusCode);
            Assert.Contains("already assigned to app 'io-vm'", (await taken.Content.ReadFromJsonAsync<AdminError>(JsonSerializerOptions.Web))!.Error);
        }

        using (var deleted = await admin.DeleteAsync($"api/admin/devices/{device.Serial}/apps/io-vm"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        Assert.Empty((await fixture.DeviceConfigAsync(device)).DeviceIoList);
        await DeployAsync(device, "second", new VmSettings(Serial: ["/dev/ttyS1"]));
    }

    [Theory]
    [InlineData("usb", "403:6001", "neither VENDOR:PRODUCT")]
    [InlineData("usb", "0403:6001,hostbus=1", "neither VENDOR:PRODUCT")]
    [InlineData("serial", "/etc/passwd", "not a device path")]
    [InlineData("serial", "/dev/../etc/passwd", "not a device path")]
    [InlineData("pci", "0000:03:00.0,x-vga=on", "not a PCI address")]
    [InlineData("usb", "0403:6001 0403:6001", "is given twice")]
    public Task A_malformed_host_device_is_400_and_nothing_reaches_the_device(string kind, string value, string reason) =>
        AssertRefusedAsync(kind switch
        {
            // Space-separated: several --usb flags.
            "usb" => new VmSettings(Usb: value.Split(' ')),
            "serial" => new VmSettings(Serial: [value]),
            _ => new VmSettings(Pci: [value]),
        }, reason);

    private async Task<AppView> DeployAsync(TestDevice device, string name, VmSettings vm)
    {
        using var admin = fixture.AdminClient();
        using var response = await admin.PostAsJsonAsync($"api/admin/devices/{device.Serial}/apps",
            new DeployAppRequest(name, DiskImage, null, null, null, null, null, Vm: vm));
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"deploy answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<AppView>(JsonSerializerOptions.Web))!;
    }

    private Task AssertRefusedAsync(VmSettings vm, params string[] expected) =>
        fixture.AssertDeployRefusedAsync(new DeployAppRequest("vm", DiskImage, null, null, null, null, null, Vm: vm), expected);

}
