using System.IO.Compression;
using System.Text;
using Outpost.Image.Rootfs;

namespace Outpost.Image.Initramfs;

/// <summary>
/// Generates the small gzip'd newc initramfs that boots an Outpost disk: it loads the disk and squashfs
/// modules, finds the root partition by GPT name (<c>root=PARTLABEL=IMGA</c>) or number
/// (<c>root=PARTN=2</c>), mounts the squashfs read-only and switch_roots into it. Its only program is the
/// rootfs's own static busybox, so no host tool is involved.
/// </summary>
public static class InitramfsBuilder
{
    public const string BusyboxPath = "bin/busybox";

    public static byte[] Build(FsTree rootfs, long mtime)
    {
        var busybox = rootfs.Get(BusyboxPath);
        if (busybox is not { Type: FsEntryType.File })
            throw new ImageBuildException($"the rootfs has no /{BusyboxPath}, which the generated initramfs runs. Add an init image that ships a static busybox (see examples/outpost.yml).");

        var tree = new FsTree(mtime);
        foreach (var dir in new[] { "bin", "dev", "proc", "sys", "newroot", "etc" })
            tree.Set(dir, FsEntry.Directory(mtime));
        // The kernel opens /dev/console before /init runs; without it init has no stdout.
        tree.Set("dev/console", new FsEntry { Type = FsEntryType.CharDevice, Mode = 0b110_000_000, DevMajor = 5, DevMinor = 1, MTime = mtime });
        tree.Set(BusyboxPath, busybox with { Mode = 0b111_101_101, MTime = mtime, Source = null, Location = null });
        tree.Set("init", FsEntry.File(Encoding.UTF8.GetBytes(InitScript), mtime, 0b111_101_101));

        var modules = new List<string>();
        if (FindModulesDirectory(rootfs) is { } version && rootfs.Get($"lib/modules/{version}/modules.dep") is { } dep)
        {
            foreach (var module in KernelModules.ResolveLoadOrder(Encoding.UTF8.GetString(dep.Content.Span), KernelModules.RootDiskModules))
            {
                if (rootfs.Get($"lib/modules/{version}/{module}") is not { Type: FsEntryType.File } ko) continue;
                var name = module[(module.LastIndexOf('/') + 1)..];
                tree.Set($"lib/modules/{name}", FsEntry.File(ko.Content, mtime));
                modules.Add(name);
            }
        }
        tree.Set("etc/modules", FsEntry.File(Encoding.UTF8.GetBytes(string.Concat(modules.Select(m => m + "\n"))), mtime));

        return Pack(tree);
    }

    /// <summary>A tree as the kernel takes an initramfs: a gzip'd newc cpio.</summary>
    internal static byte[] Pack(FsTree tree)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            new CpioNewcWriter(gzip).WriteTree(tree);
        return output.ToArray();
    }

    // A merged-/usr rootfs (Debian) keeps them in usr/lib/modules, where its lib symlink points.
    private static string? FindModulesDirectory(FsTree rootfs) =>
        rootfs.Enumerate().Select(e => e.Path)
            .Select(p => p.StartsWith("usr/", StringComparison.Ordinal) ? p[4..] : p)
            .Where(p => p.StartsWith("lib/modules/", StringComparison.Ordinal) && p.Count(c => c == '/') == 2)
            .Select(p => p["lib/modules/".Length..]).Order(StringComparer.Ordinal).FirstOrDefault();

    /// <summary>
    /// How every init Outpost generates starts, under the initramfs's busybox sh (as $B): the kernel's filesystems
    /// mounted and the console as its input and output.
    /// </summary>
    internal const string InitPrologue = """
        #!/bin/busybox sh
        B=/bin/busybox
        $B mount -t proc proc /proc
        $B mount -t sysfs sysfs /sys
        $B mount -t devtmpfs devtmpfs /dev
        exec </dev/console >/dev/console 2>&1

        """;

    // Runs under busybox sh. Kept short: every failure drops to a message and a shell-less halt so the
    // console shows why the boot stopped.
    private const string InitScript = InitPrologue + """
        fail() { echo "outpost-initramfs: $*"; $B sleep 5; $B poweroff -f; }
        for m in $($B cat /etc/modules); do $B insmod /lib/modules/$m 2>/dev/null; done
        root=PARTLABEL=IMGA
        init=/sbin/init
        for arg in $($B cat /proc/cmdline); do
          case "$arg" in
            root=*) root="${arg#root=}" ;;
            outpost.init=*) init="${arg#outpost.init=}" ;;
          esac
        done
        case "$root" in
          PARTLABEL=*) key=PARTNAME; want="${root#PARTLABEL=}" ;;
          PARTN=*) key=PARTN; want="${root#PARTN=}" ;;
          *) fail "unsupported root=$root (use PARTLABEL=NAME or PARTN=NUMBER)" ;;
        esac
        dev=
        tries=0
        while [ -z "$dev" ] && [ $tries -lt 100 ]; do
          for u in /sys/class/block/*/uevent; do
            if $B grep -qx "$key=$want" "$u"; then dev=$($B sed -n 's/^DEVNAME=//p' "$u"); fi
          done
          [ -z "$dev" ] && $B usleep 100000
          tries=$((tries+1))
        done
        [ -n "$dev" ] || fail "no partition with $key=$want appeared"
        $B mount -t squashfs -o ro "/dev/$dev" /newroot || fail "cannot mount /dev/$dev as squashfs"
        echo "outpost-initramfs: root /dev/$dev ($root), starting $init"
        $B mount --move /dev /newroot/dev 2>/dev/null || $B umount /dev
        $B umount /sys
        $B umount /proc
        exec $B switch_root /newroot "$init"
        """;
}
