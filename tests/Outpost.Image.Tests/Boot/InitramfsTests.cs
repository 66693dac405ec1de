using System.IO.Compression;
using Outpost.Image.Initramfs;
using Outpost.Image.Rootfs;
using Outpost.Image.Tests.Support;

namespace Outpost.Image.Tests.Boot;

public sealed class InitramfsTests
{
    [Fact]
    public async Task Initramfs_is_a_gzip_newc_cpio_that_gnu_cpio_lists_with_modules_in_dependency_order()
    {
        var rootfs = new FsTree();
        rootfs.Set("bin/busybox", FsEntry.File(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }, 0, 0b111_101_101));
        rootfs.Set("lib/modules/6.1.0-test/modules.dep", FsEntry.File(System.Text.Encoding.UTF8.GetBytes(
            "kernel/fs/squashfs/squashfs.ko:\nkernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n" +
            "kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio.ko:\n"), 0));
        foreach (var ko in new[] { "kernel/fs/squashfs/squashfs.ko", "kernel/drivers/block/virtio_blk.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko" })
            rootfs.Set($"lib/modules/6.1.0-test/{ko}", FsEntry.File(new byte[] { 1, 2, 3 }, 0));

        var initramfs = InitramfsBuilder.Build(rootfs, 1700000000);

        using var temp = new TempDirectory();
        var cpioPath = temp.Combine("initrd.cpio");
        await using (var gzip = new GZipStream(new MemoryStream(initramfs), CompressionMode.Decompress))
        await using (var file = File.Create(cpioPath))
            await gzip.CopyToAsync(file);
        var listing = await Tools.RunAsync("sh", "-c", $"cpio -itv < '{cpioPath}'");
        Assert.True(listing.ExitCode == 0, listing.All);
        Assert.Contains("init", listing.Stdout);
        Assert.Matches(@"crw-------\s+1 root\s+root\s+5,\s+1 .* dev/console", listing.Stdout);
        Assert.Matches(@"-rwxr-xr-x .* bin/busybox", listing.Stdout);

        var modules = await Tools.RunAsync("sh", "-c", $"cd '{temp.Path}' && cpio -i --to-stdout etc/modules < initrd.cpio");
        Assert.Equal("virtio.ko\nvirtio_ring.ko\nvirtio_blk.ko\nsquashfs.ko\n", modules.Stdout);
    }

    [Fact]
    public void Rootfs_without_busybox_cannot_get_an_initramfs()
    {
        var error = Assert.Throws<ImageBuildException>(() => InitramfsBuilder.Build(new FsTree(), 0));
        Assert.Contains("the rootfs has no /bin/busybox", error.Message);
    }
}
