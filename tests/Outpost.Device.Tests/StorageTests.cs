using Outpost.Device.Init;

namespace Outpost.Device.Tests;

/// <summary>The persist and CONFIG steps of PID 1 against real loop devices, real mkfs/e2fsck and real mounts (root, as CI runs).</summary>
public sealed class StorageTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("outpost-storage-");
    private readonly List<string> _loops = [];
    private readonly List<string> _mounts = [];
    private readonly StringWriter _console = new();

    private BootLog Log => new(_console);

    private async Task<string> LoopAsync(long bytes)
    {
        var file = Path.Combine(_temp.FullName, $"disk{_loops.Count}.img");
        await using (var stream = File.Create(file)) stream.SetLength(bytes);
        var attach = await Tools.RunAsync("losetup", "--find", "--show", file);
        Assert.True(attach.Succeeded, "losetup: " + attach.Output);
        _loops.Add(attach.Output.Trim());
        return attach.Output.Trim();
    }

    private string MountPoint()
    {
        var path = Directory.CreateDirectory(Path.Combine(_temp.FullName, $"mnt{_mounts.Count}")).FullName;
        _mounts.Add(path);
        return path;
    }

    [Fact]
    public async Task A_blank_persist_is_formatted_on_first_boot_and_kept_as_it_is_on_the_next()
    {
        var device = await LoopAsync(64L << 20);
        var mount = MountPoint();
        var first = await PersistStorage.PrepareAsync(device, mount, Log, CancellationToken.None);
        Assert.True(first.Mounted);
        Assert.Contains("no filesystem (first boot)", first.Formatted);
        Assert.Contains("first boot", await File.ReadAllTextAsync(Path.Combine(mount, "status", "reformatted")));
        await File.WriteAllTextAsync(Path.Combine(mount, "state"), "kept");
        Assert.True(Native.TryUnmount(mount));

        var second = await PersistStorage.PrepareAsync(device, mount, Log, CancellationToken.None);
        Assert.True(second.Mounted);
        Assert.Null(second.Formatted);
        Assert.Equal("kept", await File.ReadAllTextAsync(Path.Combine(mount, "state")));
    }

    [Fact]
    public async Task A_damaged_persist_is_repaired_by_fsck_and_its_files_stay()
    {
        var device = await LoopAsync(64L << 20);
        var mount = MountPoint();
        Assert.True((await PersistStorage.PrepareAsync(device, mount, Log, CancellationToken.None)).Mounted);
        await File.WriteAllTextAsync(Path.Combine(mount, "state"), "kept");
        Assert.True(Native.TryUnmount(mount));
        // Marks the filesystem as having errors, as a power cut in the middle of a metadata write can.
        Assert.True((await Tools.RunAsync("debugfs", "-w", "-R", "ssv state 2", device)).Succeeded);

        var outcome = await PersistStorage.PrepareAsync(device, mount, Log, CancellationToken.None);
        Assert.True(outcome.Mounted);
        Assert.Null(outcome.Formatted);
        Assert.NotNull(outcome.Repaired);
        Assert.Equal("kept", await File.ReadAllTextAsync(Path.Combine(mount, "state")));
        Assert.Contains("persist: e2fsck", _console.ToString());
    }

    [Fact]
    public async Task A_persist_holding_another_filesystem_is_reformatted_only_with_the_reason_said_and_kept()
    {
        var device = await LoopAsync(64L << 20);
        Assert.True((await Tools.RunAsync("mkfs.vfat", device)).Succeeded);
        var mount = MountPoint();
        var outcome = await PersistStorage.PrepareAsync(device, mount, Log, CancellationToken.None);
        Assert.True(outcome.Mounted);
        Assert.Contains("held vfat, not ext4", outcome.Formatted);
        Assert.Contains("persist: formatting", _console.ToString());
        Assert.Contains("held vfat", await File.ReadAllTextAsync(Path.Combine(mount, "status", "reformatted")));
    }

    [Fact]
    public async Task Without_a_config_partition_the_device_says_so_and_config_is_an_empty_read_only_folder()
    {
        // This host has no partition named CONFIG, as a disk flashed without one.
        var mount = MountPoint();
        var copied = await ConfigStorage.PrepareAsync(mount, Log, CancellationToken.None, waitForPartition: TimeSpan.Zero);
        Assert.Equal(0, copied);
        Assert.Contains("this disk has no CONFIG partition, so the device does not know its controller", _console.ToString());
        Assert.Empty(Directory.EnumerateFileSystemEntries(mount));
        Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(mount, "server"), "x"));
    }

    public void Dispose()
    {
        foreach (var mount in _mounts) Native.TryUnmount(mount, detach: true);
        foreach (var loop in _loops) Tools.RunAsync("losetup", "-d", loop).GetAwaiter().GetResult();
        _temp.Delete(recursive: true);
    }
}
