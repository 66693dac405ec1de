using System.Security.Cryptography;
using System.Text;
using Outpost.Api.ContainerVm;
using Outpost.Image.Rootfs;

namespace Outpost.Image.Initramfs;

/// <summary>Where a built kit's two files are.</summary>
public sealed record ContainerVmKitFiles(string Directory, string KernelPath, string InitrdPath, string Sha256);

/// <summary>
/// Builds the kernel and initrd the agent boots for an app isolated in a VM (see <see cref="ContainerVmContract"/>):
/// the host's Debian kernel, the few modules the guest needs (virtio PCI, the virtio console for the control port,
/// 9p over virtio for the shared root), a static busybox and Outpost's init. Deterministic: the same inputs give the
/// same bytes, so an Outpost OS image can carry it and the agent can tell kits apart by hash.
/// </summary>
public static class ContainerVmKit
{
    /// <summary>The guest's modules; the names modules.dep does not list are built into the kernel.</summary>
    public static readonly IReadOnlyList<string> GuestModules = ["virtio_pci", "virtio_console", "9pnet_virtio", "9p"];

    private const long FixedMTime = 1_700_000_000;

    /// <param name="kernelPath">A vmlinuz whose modules are in <paramref name="modulesDirectory"/>; null: the host's newest.</param>
    /// <param name="modulesDirectory">lib/modules/VERSION of that kernel; null: derived from the kernel's file name.</param>
    /// <exception cref="ImageBuildException">A kernel, its modules or busybox is missing, or a module is compressed.</exception>
    public static async Task<ContainerVmKitFiles> BuildAsync(string outputDirectory, string? kernelPath = null, string? modulesDirectory = null,
        string busyboxPath = "/bin/busybox", CancellationToken cancellationToken = default)
    {
        kernelPath ??= FindHostKernel();
        if (!File.Exists(kernelPath))
            throw new ImageBuildException($"The kernel {kernelPath} does not exist; give --kernel a vmlinuz (Debian: apt-get install linux-image-amd64).");
        var name = Path.GetFileName(kernelPath);
        modulesDirectory ??= name.StartsWith("vmlinuz-", StringComparison.Ordinal) ? $"/lib/modules/{name["vmlinuz-".Length..]}" : null;
        var dep = modulesDirectory is null ? null : Path.Combine(modulesDirectory, "modules.dep");
        if (dep is null || !File.Exists(dep))
            throw new ImageBuildException($"No modules.dep for {kernelPath} ({dep ?? "no /lib/modules/VERSION matches its name"}); give --modules the kernel's lib/modules/VERSION folder.");
        if (!File.Exists(busyboxPath))
            throw new ImageBuildException($"{busyboxPath} is missing; the guest's only program is a static busybox (Debian: apt-get install busybox-static).");

        var tree = new FsTree(FixedMTime);
        foreach (var dir in new[] { "bin", "dev", "proc", "sys", "etc", "lib", "lib/modules", "launch", "root" })
            tree.Set(dir, FsEntry.Directory(FixedMTime));
        // The kernel opens /dev/console for /init before devtmpfs is mounted.
        tree.Set("dev/console", new FsEntry { Type = FsEntryType.CharDevice, Mode = 0b110_000_000, DevMajor = 5, DevMinor = 1, MTime = FixedMTime });
        tree.Set("bin/busybox", FsEntry.File(await File.ReadAllBytesAsync(busyboxPath, cancellationToken), FixedMTime, 0b111_101_101));
        tree.Set("init", FsEntry.File(Encoding.UTF8.GetBytes(InitScript), FixedMTime, 0b111_101_101));
        var modules = new List<string>();
        foreach (var module in KernelModules.ResolveLoadOrder(await File.ReadAllTextAsync(dep, cancellationToken), GuestModules))
        {
            if (!module.EndsWith(".ko", StringComparison.Ordinal))
                throw new ImageBuildException($"The kernel's module {module} is compressed; busybox insmod needs plain .ko files (use a kernel package with uncompressed modules).");
            var file = module[(module.LastIndexOf('/') + 1)..];
            tree.Set($"lib/modules/{file}", FsEntry.File(await File.ReadAllBytesAsync(Path.Combine(modulesDirectory!, module), cancellationToken), FixedMTime));
            modules.Add(file);
        }

        tree.Set("etc/modules", FsEntry.File(Encoding.UTF8.GetBytes(string.Concat(modules.Select(m => m + "\n"))), FixedMTime));
        var initrd = InitramfsBuilder.Pack(tree);

        Directory.CreateDirectory(outputDirectory);
        var files = new ContainerVmKitFiles(Path.GetFullPath(outputDirectory), Path.Combine(Path.GetFullPath(outputDirectory), ContainerVmContract.KernelFile),
            Path.Combine(Path.GetFullPath(outputDirectory), ContainerVmContract.InitrdFile), "");
        var kernel = await File.ReadAllBytesAsync(kernelPath, cancellationToken);
        await WriteAtomicallyAsync(files.KernelPath, kernel, cancellationToken);
        await WriteAtomicallyAsync(files.InitrdPath, initrd, cancellationToken);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(kernel);
        hash.AppendData(initrd);
        return files with { Sha256 = Convert.ToHexStringLower(hash.GetHashAndReset()) };
    }

    /// <summary>The newest /boot/vmlinuz-VERSION that has a /lib/modules/VERSION/modules.dep.</summary>
    public static string FindHostKernel() =>
        (Directory.Exists("/boot") ? Directory.GetFiles("/boot", "vmlinuz-*") : [])
            .Where(p => File.Exists($"/lib/modules/{Path.GetFileName(p)["vmlinuz-".Length..]}/modules.dep"))
            .OrderByDescending(p => p, StringComparer.Ordinal)
            .FirstOrDefault()
        ?? throw new ImageBuildException("No /boot/vmlinuz-VERSION with /lib/modules/VERSION/modules.dep here; install linux-image-amd64 or give --kernel and --modules.");

    private static async Task WriteAtomicallyAsync(string path, byte[] content, CancellationToken cancellationToken)
    {
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        await File.WriteAllBytesAsync(temporary, content, cancellationToken);
        File.Move(temporary, path, overwrite: true);
    }

    // PID 1 of the guest, under busybox sh; its output is the serial console, which the agent turns into the app's
    // logs. It never exits (that would panic the kernel): every path ends in a power-off, which ends QEMU. The container
    // process runs as a child so that its exit code can be written back to the host, and so that "stop" on the control
    // port can reach it with SIGTERM. Orphans the process leaves are reparented here and reaped by the final wait.
    private static readonly string InitScript = InitramfsBuilder.InitPrologue + $$"""
        say() { echo "outpost-container-vm: $*"; }
        off() { $B sync; $B poweroff -f; $B sleep 60; }
        fail() { say "$*"; off; }
        for m in $($B cat /etc/modules); do $B insmod /lib/modules/$m 2>/dev/null; done
        $B mount -t 9p -o trans=virtio,version=9p2000.L {{ContainerVmContract.LaunchTag}} /launch || fail "cannot mount the launch share"
        $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 {{ContainerVmContract.RootTag}} /root || fail "cannot mount the container's root"
        . /launch/{{ContainerVmContract.LaunchFile}} || fail "cannot read the launch file"
        for d in proc sys dev {{ContainerVmContract.HelperDirectory}}; do $B mkdir -p /root/$d; done
        $B mount -t proc proc /root/proc
        $B mount -t sysfs sysfs /root/sys
        $B mount --bind /dev /root/dev
        $B mount --bind /bin /root/{{ContainerVmContract.HelperDirectory}} && $B mount -o remount,bind,ro /root/{{ContainerVmContract.HelperDirectory}}
        $B hostname "$OUTPOST_HOSTNAME"
        H=/{{ContainerVmContract.HelperDirectory}}/busybox
        $B chroot /root $H sh -c 'cd "$1" || exit 126; shift; exec '$H' env -i -- "$@"' outpost "$OUTPOST_WORKDIR" "$@" </dev/console >/dev/console 2>&1 &
        pid=$!
        ctl=
        for p in /sys/class/virtio-ports/*; do
          [ "$($B cat "$p/name" 2>/dev/null)" = {{ContainerVmContract.ControlPort}} ] && ctl="/dev/${p##*/}"
        done
        if [ -n "$ctl" ]; then
          (
            # The port stays open, so QEMU hands the host's words to the guest whenever they come; a read returns at once
            # (EOF) while no host end is connected, so look again a moment later.
            exec 3<"$ctl"
            while :; do
              if read -r cmd <&3; then
                case "$cmd" in
                  stop) $B kill -TERM $pid 2>/dev/null ;;
                  kill) $B kill -KILL $pid 2>/dev/null ;;
                esac
              else
                $B sleep 1
              fi
            done
          ) &
          watcher=$!
        fi
        wait $pid
        code=$?
        [ -n "$watcher" ] && $B kill $watcher 2>/dev/null
        echo $code >/launch/{{ContainerVmContract.ExitCodeFile}}
        say "the container's process exited with code $code"
        off
        """;
}
