using System.IO.Compression;
using System.Text;
using Outpost.Image.Initramfs;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Boot;

/// <summary>The container VM kit from a fake kernel tree: what goes into the initrd, byte-for-byte repeatability, and the errors.</summary>
public sealed class ContainerVmKitTests
{
    private const string Dep = "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\nkernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko\n"
        + "kernel/net/9p/9pnet.ko:\nkernel/fs/netfs/netfs.ko:\nkernel/drivers/char/virtio_console.ko:\nkernel/drivers/block/loop.ko:\n";

    [Fact]
    public async Task The_kit_is_the_kernel_and_an_initrd_with_busybox_the_init_and_the_guest_modules_in_load_order_and_builds_the_same_twice()
    {
        using var temp = new TempDirectory();
        var (kernel, modules, busybox) = FakeKernel(temp, plainModules: true);

        var first = await ContainerVmKit.BuildAsync(temp.Combine("kit1"), kernel, modules, busybox);
        var second = await ContainerVmKit.BuildAsync(temp.Combine("kit2"), kernel, modules, busybox);

        Assert.Equal(await File.ReadAllBytesAsync(kernel), await File.ReadAllBytesAsync(first.KernelPath));
        Assert.Equal(await File.ReadAllBytesAsync(first.InitrdPath), await File.ReadAllBytesAsync(second.InitrdPath));
        Assert.Equal(first.Sha256, second.Sha256);
        var cpio = temp.Combine("initrd.cpio");
        await using (var gzip = new GZipStream(File.OpenRead(first.InitrdPath), CompressionMode.Decompress))
        await using (var file = File.Create(cpio))
            await gzip.CopyToAsync(file);
        var listing = await Tools.RunAsync("sh", "-c", $"cpio -it < '{cpio}'");
        Assert.True(listing.ExitCode == 0, listing.All);
        Assert.Contains("bin/busybox", listing.Stdout);
        Assert.Contains("lib/modules/9pnet_virtio.ko", listing.Stdout);
        Assert.DoesNotContain("loop.ko", listing.Stdout);
        var order = await Tools.RunAsync("sh", "-c", $"cd '{temp.Path}' && cpio -i --to-stdout etc/modules < initrd.cpio");
        Assert.Equal("virtio_console.ko\n9pnet.ko\n9pnet_virtio.ko\nnetfs.ko\n9p.ko\n", order.Stdout);
        var init = await Tools.RunAsync("sh", "-c", $"cd '{temp.Path}' && cpio -i --to-stdout init < initrd.cpio");
        Assert.Contains("mount -t 9p -o trans=virtio,version=9p2000.L outpost-launch /launch", init.Stdout);
    }

    [Fact]
    public async Task A_missing_busybox_names_the_package()
    {
        using var temp = new TempDirectory();
        var (kernel, modules, _) = FakeKernel(temp, plainModules: true);
        var e = await Assert.ThrowsAsync<ImageBuildException>(() => ContainerVmKit.BuildAsync(temp.Combine("kit"), kernel, modules, temp.Combine("no-busybox")));
        Assert.Contains("busybox-static", e.Message);
    }

    [Fact]
    public async Task A_kernel_without_modules_says_where_it_looked()
    {
        using var temp = new TempDirectory();
        var (kernel, _, busybox) = FakeKernel(temp, plainModules: true);
        var e = await Assert.ThrowsAsync<ImageBuildException>(() => ContainerVmKit.BuildAsync(temp.Combine("kit"), kernel, temp.Combine("nowhere"), busybox));
        Assert.Contains("modules.dep", e.Message);
        Assert.Contains("--modules", e.Message);
    }

    [Fact]
    public async Task Compressed_modules_are_refused_because_busybox_insmod_cannot_load_them()
    {
        using var temp = new TempDirectory();
        var (kernel, modules, busybox) = FakeKernel(temp, plainModules: false);
        var e = await Assert.ThrowsAsync<ImageBuildException>(() => ContainerVmKit.BuildAsync(temp.Combine("kit"), kernel, modules, busybox));
        Assert.Contains("compressed", e.Message);
    }

    private static (string Kernel, string Modules, string Busybox) FakeKernel(TempDirectory temp, bool plainModules)
    {
        var modules = temp.Combine("lib/modules/6.1.0-test");
        var dep = plainModules ? Dep : Dep.Replace(".ko", ".ko.xz", StringComparison.Ordinal);
        Directory.CreateDirectory(modules);
        File.WriteAllText(Path.Combine(modules, "modules.dep"), dep);
        foreach (var line in dep.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var path = Path.Combine(modules, line[..line.IndexOf(':')]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, Encoding.ASCII.GetBytes("module " + path));
        }

        var kernel = temp.Combine("vmlinuz-6.1.0-test");
        File.WriteAllBytes(kernel, Encoding.ASCII.GetBytes("not really a kernel"));
        var busybox = temp.Combine("busybox");
        File.WriteAllBytes(busybox, [0x7f, (byte)'E', (byte)'L', (byte)'F']);
        return (kernel, modules, busybox);
    }
}
