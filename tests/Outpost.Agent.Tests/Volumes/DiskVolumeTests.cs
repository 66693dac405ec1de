using System.Collections.Concurrent;
using System.Security.Cryptography;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Tests.Apps;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Oci.Artifacts;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Transfer;

namespace Outpost.Agent.Tests.Volumes;

/// <summary>
/// VM disks through the real pipeline: a disk artifact pushed to a real docker-registry (DiskArtifact + ImagePusher,
/// as <c>outpost image push-disk</c> does), pulled by the content service, made a disk volume by the volume service.
/// </summary>
public sealed class DiskVolumeTests : IAsyncLifetime
{
    private const long MiB = 1024 * 1024;
    private readonly ConcurrentQueue<VolumeStatus> _published = new();
    private TestRegistry? _registry;
    private RegistryClient _client = null!;
    private AppTestHost _host = null!;
    private string _datastore = "";

    public async Task InitializeAsync()
    {
        _registry = await TestRegistry.StartAsync();
        _client = new RegistryClient();
        _host = new AppTestHost();
        _datastore = _host.AddDatastore(_registry.Host);
        StartAgent();
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _client.Dispose();
        _registry?.Dispose();
    }

    [Theory]
    [InlineData(Format.Qcow2, VmDiskFormat.Qcow2, "disk.qcow2")]
    [InlineData(Format.Raw, VmDiskFormat.Raw, "disk.raw")]
    [InlineData(Format.Iso, VmDiskFormat.Iso, "disk.iso")]
    public async Task Disk_artifact_becomes_a_read_only_disk_volume_that_shares_the_store_blob(Format format, VmDiskFormat expected, string fileName)
    {
        var (disk, virtualSize) = await MakeDiskAsync(format);
        await PushDiskAsync("vm/disk:1", disk, format);
        var tree = AddContentTree("vm/disk:1", format);
        var first = AddVolume(tree);
        var second = AddVolume(tree);

        _host.Apply();
        var a = await WaitForVolumeAsync(first, ZSwState.CreatedVolume);
        var b = await WaitForVolumeAsync(second, ZSwState.CreatedVolume);

        Assert.True(a.IsCreated && a.IsDisk, $"expected a created disk volume, got {a}");
        Assert.Equal(Path.Combine(_host.StateDir, "volumes", first, "0", fileName), a.DiskPath);
        Assert.Equal(expected, a.DiskFormat);
        Assert.Equal(virtualSize, a.DiskVirtualSizeBytes);
        Assert.Null(a.RootfsPath);
        Assert.Null(a.Image);
        Assert.True(a.SizeBytes > 0, $"a disk volume's size is the disk's actual size; got {a.SizeBytes}");
        Assert.Equal((ulong)a.SizeBytes, _host.VolumeInfo(first)!.Resources.CurSizeBytes);
        Assert.Equal(await File.ReadAllBytesAsync(disk), await File.ReadAllBytesAsync(a.DiskPath!));
        Assert.Equal(DiskArtifact.ExportedFileMode, File.GetUnixFileMode(a.DiskPath!));
        // One base for every volume of the artifact: both disks are the content store's blob itself.
        var blob = BlobPath(disk);
        var inode = Inode(blob);
        Assert.Equal(inode, Inode(a.DiskPath!));
        Assert.Equal(inode, Inode(b.DiskPath!));
        Assert.Equal("3", AppTestHost.Run("stat", "-c", "%h", blob).Trim());
    }

    [Fact]
    public async Task Qcow2_with_a_backing_file_is_refused_and_not_retried()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_host.Root, "disks")).FullName;
        var backing = Path.Combine(dir, "base.qcow2");
        var overlay = Path.Combine(dir, "overlay.qcow2");
        QemuImgCreate("-f", "qcow2", backing, "8M");
        QemuImgCreate("-f", "qcow2", "-b", backing, "-F", "qcow2", overlay);
        await PushDiskAsync("vm/backed:1", overlay, Format.Qcow2);
        var volume = AddVolume(AddContentTree("vm/backed:1", Format.Qcow2));

        _host.Apply();
        var failed = await WaitForVolumeAsync(volume, ZSwState.Error);

        Assert.Contains("backing file", failed.Error!.Description);
        Assert.Contains("qemu-img convert -O qcow2", failed.Error.Description);
        Assert.False(Directory.Exists(VolumeService.GenerationDirectory(Path.Combine(_host.StateDir, "volumes"), volume, 0)),
            "a refused disk must not stay on the device");
        // Several poll intervals later it has not been tried again.
        await Task.Delay(AppTestHost.Options.PollInterval * 6);
        var afterError = _published.Where(s => s.Uuid == volume).SkipWhile(s => s.State != ZSwState.Error).Select(s => s.State).ToList();
        Assert.All(afterError, state => Assert.Equal(ZSwState.Error, state));
    }

    [Fact]
    public async Task Disk_larger_than_the_volumes_maxsizebytes_is_refused()
    {
        var disk = Path.Combine(Directory.CreateDirectory(Path.Combine(_host.Root, "disks")).FullName, "big.raw");
        await File.WriteAllBytesAsync(disk, RandomNumberGenerator.GetBytes((int)(2 * MiB)));
        await PushDiskAsync("vm/big:1", disk, Format.Raw);
        var volume = AddVolume(AddContentTree("vm/big:1", Format.Raw), maxSizeBytes: MiB);

        _host.Apply();
        var failed = await WaitForVolumeAsync(volume, ZSwState.Error);

        Assert.Contains($"larger than its maxsizebytes ({MiB} bytes)", failed.Error!.Description);
        Assert.Null(failed.DiskPath);
    }

    [Fact]
    public async Task Vmdk_content_tree_makes_the_volume_fail_with_how_to_convert()
    {
        var volume = AddVolume(AddContentTree("vm/legacy:1", Format.Vmdk));

        _host.Apply();
        var failed = await WaitForVolumeAsync(volume, ZSwState.Error);

        Assert.Contains("format Vmdk, which is not supported; convert it to qcow2 with qemu-img convert", failed.Error!.Description);
    }

    [Fact]
    public async Task Disk_volume_stays_created_with_its_disk_after_an_agent_restart()
    {
        var (disk, virtualSize) = await MakeDiskAsync(Format.Qcow2);
        await PushDiskAsync("vm/restart:1", disk, Format.Qcow2);
        var volume = AddVolume(AddContentTree("vm/restart:1", Format.Qcow2));
        _host.Apply();
        var before = await WaitForVolumeAsync(volume, ZSwState.CreatedVolume);
        var diskJson = Path.Combine(Path.GetDirectoryName(before.DiskPath!)!, VolumeService.DiskInfoFileName);
        var writtenAt = File.GetLastWriteTimeUtc(diskJson);
        var inode = Inode(before.DiskPath!);

        await _host.StopAgentAsync();
        // Nothing to fetch again: the registry is gone, the volume is on the device.
        _registry!.Dispose();
        _registry = null;
        _published.Clear();
        StartAgent();
        var after = await WaitForVolumeAsync(volume, ZSwState.CreatedVolume);

        Assert.Equal(before.DiskPath, after.DiskPath);
        Assert.Equal(VmDiskFormat.Qcow2, after.DiskFormat);
        Assert.Equal(virtualSize, after.DiskVirtualSizeBytes);
        Assert.Equal(before.SizeBytes, after.SizeBytes);
        Assert.Equal(writtenAt, File.GetLastWriteTimeUtc(diskJson));
        Assert.Equal(inode, Inode(after.DiskPath!));
        Assert.DoesNotContain(_published, s => s.Uuid == volume && s.State == ZSwState.CreatingVolume);
    }

    [Fact]
    public async Task Container_image_volume_still_unpacks_into_a_rootfs()
    {
        await TestImages.PushAsync(_client, $"{_registry!.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        var volume = AddVolume(AddContentTree("demo/busybox:1", Format.Container));

        _host.Apply();
        var created = await WaitForVolumeAsync(volume, ZSwState.CreatedVolume);

        Assert.True(created.IsCreated && !created.IsDisk, $"expected a created filesystem volume, got {created}");
        Assert.True(File.Exists(Path.Combine(created.RootfsPath!, "bin", "busybox")), "the image's files are in rootfs/");
        Assert.Equal(["/bin/sh"], created.Image!.Cmd);
        Assert.Null(created.DiskFormat);
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(created.RootfsPath!)!, VolumeService.DiskInfoFileName)));
    }

    private void StartAgent()
    {
        _host.StartAgent();
        _host.Bus.Topic<VolumeStatus>().Changed += (_, status) =>
        {
            if (status is not null)
            {
                _published.Enqueue(status);
            }
        };
    }

    /// <summary>Pushes a disk as `outpost image push-disk` does: DiskArtifact into a layout, ImagePusher to the registry.</summary>
    private async Task PushDiskAsync(string repoAndTag, string diskPath, Format format)
    {
        var layout = await OciLayout.CreateAsync(Path.Combine(_host.Root, "push-" + Guid.NewGuid().ToString("N")));
        await DiskArtifact.WriteAsync(layout, diskPath, format.ToString(), "disk");
        await new ImagePusher(_client).PushAsync(layout, "disk", ImageReference.Parse($"{_registry!.Host}/{repoAndTag}"));
    }

    /// <summary>A small disk of <paramref name="format"/> and the virtual size qemu-img will report for it.</summary>
    private async Task<(string Path, long VirtualSize)> MakeDiskAsync(Format format)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_host.Root, "disks")).FullName;
        switch (format)
        {
            case Format.Qcow2:
                var qcow2 = Path.Combine(dir, "vm.qcow2");
                QemuImgCreate("-f", "qcow2", qcow2, "64M");
                return (qcow2, 64 * MiB);
            case Format.Raw:
                var raw = Path.Combine(dir, "vm.raw");
                await File.WriteAllBytesAsync(raw, RandomNumberGenerator.GetBytes((int)(4 * MiB)));
                return (raw, 4 * MiB);
            default:
                var iso = Path.Combine(dir, "vm.iso");
                await File.WriteAllBytesAsync(iso, MinimalIso9660());
                return (iso, 18 * 2048);
        }
    }

    /// <summary>
    /// The smallest image that carries ISO 9660's structure (no ISO tools on these machines): 16 empty system-area
    /// sectors, a primary volume descriptor (type 1, "CD001") and the set terminator (type 255).
    /// </summary>
    private static byte[] MinimalIso9660()
    {
        const int Sector = 2048;
        var image = new byte[18 * Sector];
        foreach (var (sector, type) in ((int, byte)[])[(16, 1), (17, 255)])
        {
            image[sector * Sector] = type;
            "CD001"u8.CopyTo(image.AsSpan((sector * Sector) + 1));
            image[(sector * Sector) + 6] = 1;
        }

        return image;
    }

    private static void QemuImgCreate(params string[] args)
    {
        var output = AppTestHost.Run("qemu-img", ["create", "-q", .. args]);
        Assert.True(output.Trim().Length == 0, $"qemu-img create {string.Join(' ', args)}: {output} (install qemu-utils: bash .ci/install-deps.sh)");
    }

    private string AddContentTree(string url, Format format)
    {
        var uuid = Guid.NewGuid().ToString();
        _host.Config.ContentInfo.Add(new ContentTree { Uuid = uuid, DsIdsList = { _datastore }, URL = url, Iformat = format, DisplayName = url });
        return uuid;
    }

    private string AddVolume(string contentTree, long maxSizeBytes = 0)
    {
        var uuid = Guid.NewGuid().ToString();
        _host.Config.Volumes.Add(new Volume
        {
            Uuid = uuid,
            DisplayName = "disk-" + uuid[..8],
            Maxsizebytes = maxSizeBytes,
            Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = contentTree },
        });
        return uuid;
    }

    private async Task<VolumeStatus> WaitForVolumeAsync(string uuid, ZSwState state)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < AppTestHost.Bound)
        {
            if (_host.Bus.Topic<VolumeStatus>().Get(uuid) is { } status && status.State == state)
            {
                return status;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"Volume {uuid}: expected {state} within {AppTestHost.Bound.TotalSeconds} s; last: {_host.Bus.Topic<VolumeStatus>().Get(uuid)}");
        return null!;
    }

    private string BlobPath(string disk)
    {
        using var file = File.OpenRead(disk);
        return Path.Combine(_host.StateDir, "content", "blobs", "sha256", Convert.ToHexStringLower(SHA256.HashData(file)));
    }

    private static string Inode(string path) => AppTestHost.Run("stat", "-c", "%i", path).Trim();
}
