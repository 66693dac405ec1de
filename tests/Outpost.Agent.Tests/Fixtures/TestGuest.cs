using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>The kernel and initrd of a <see cref="TestGuest"/>, ready for <c>qemu -kernel KernelPath -initrd InitrdPath</c>.</summary>
public sealed record TestGuestFiles(string KernelPath, string InitrdPath);

/// <summary>
/// A tiny Linux guest for QEMU tests, built offline from what the host's Debian packages installed: the kernel
/// (<c>/boot/vmlinuz-*</c>, linux-image-amd64) with a few of its modules, and the static busybox
/// (<c>/bin/busybox</c>, busybox-static). Boot it with <c>-append "console=ttyS0"</c>; on ttyS0 it prints
/// "outpost-test-guest: tick 1..3" (one a second), <see cref="ReadyLine"/>, "memory-kib=N", "cpus=N", what it found on a
/// FAT or ISO9660 disk labelled cidata ("cidata instance-id=... hostname=..." and "user-data: LINE" lines, or "no cidata"),
/// then "alive N" every 5 s, and answers shell commands typed on ttyS0. PID 1 never exits, and the ACPI button module is
/// left out so the guest ignores a power-button press (system_powerdown): it is the "guest that ignores powerdown".
/// </summary>
public static class TestGuest
{
    public const string ReadyLine = "outpost-test-guest: ready";

    public const string BusyboxPath = "/bin/busybox";

    /// <summary>Where systemd-boot (systemd-boot-efi) installs its EFI binary.</summary>
    public const string SystemdBootPath = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";

    /// <summary>The command line the UEFI disk's loader entry passes to the kernel.</summary>
    public const string UefiKernelOptions = "console=ttyS0 quiet";

    // Bump to rebuild every cache when the layout (not the inputs) changes.
    private const string FormatVersion = "outpost-test-guest/1";

    private const long FixedMTime = 1_700_000_000;

    // Disks (virtio, SATA/IDE CD-ROM), the virtio console, and the filesystems a cidata volume may use. Names missing from
    // modules.dep are built in. button (ACPI power button) is deliberately absent.
    private static readonly string[] WantedModules =
    [
        "virtio_pci", "virtio_blk", "virtio_console", "fat", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859_1",
        "ata_piix", "ahci", "sr_mod", "isofs",
    ];

    private static readonly Lazy<Task<TestGuestFiles>> Files = new(() => Task.Run(BuildCoreAsync));
    private static readonly Lazy<Task<string>> UefiDisk = new(() => Task.Run(BuildUefiDiskCoreAsync));

    /// <summary>
    /// Builds the kernel and initrd, once per process, into a directory under <see cref="Path.GetTempPath"/> named by a hash
    /// of the kernel, busybox, modules and init script, so later runs reuse it. Treat the files as read-only.
    /// </summary>
    public static Task<TestGuestFiles> BuildAsync(CancellationToken ct) => Files.Value.WaitAsync(ct);

    /// <summary>
    /// A raw GPT disk whose EFI system partition holds systemd-boot (as EFI/BOOT/BOOTX64.EFI), the kernel, the initrd and
    /// a loader entry booting them with <see cref="UefiKernelOptions"/>, for OVMF. Shared and cached like
    /// <see cref="BuildAsync"/>: attach it with <c>snapshot=on</c> (or <c>readonly=on</c>) or copy it.
    /// </summary>
    public static Task<string> BuildUefiDiskAsync(CancellationToken ct) => UefiDisk.Value.WaitAsync(ct);

    private static async Task<TestGuestFiles> BuildCoreAsync()
    {
        var (kernel, version) = FindKernel();
        var modulesDir = $"/lib/modules/{version}";
        var modules = ResolveLoadOrder(await File.ReadAllTextAsync(Path.Combine(modulesDir, "modules.dep")), WantedModules);
        if (!File.Exists(BusyboxPath))
            throw new InvalidOperationException($"{BusyboxPath} is missing; install busybox-static.");

        var busybox = await File.ReadAllBytesAsync(BusyboxPath);
        var kernelBytes = await File.ReadAllBytesAsync(kernel);
        var moduleBytes = new List<(string Name, byte[] Content)>();
        foreach (var module in modules)
            moduleBytes.Add((module[(module.LastIndexOf('/') + 1)..], await File.ReadAllBytesAsync(Path.Combine(modulesDir, module))));

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string label, ReadOnlySpan<byte> data)
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{label}:{data.Length}:"));
            hash.AppendData(data);
        }
        Add("format", Encoding.UTF8.GetBytes(FormatVersion));
        Add("init", Encoding.UTF8.GetBytes(InitScript));
        Add("kernel", kernelBytes);
        Add("busybox", busybox);
        foreach (var (name, content) in moduleBytes) Add("module " + name, content);
        var key = Convert.ToHexStringLower(hash.GetHashAndReset())[..16];

        var dir = Path.Combine(Path.GetTempPath(), $"outpost-test-guest-{key}");
        Directory.CreateDirectory(dir);
        var files = new TestGuestFiles(Path.Combine(dir, "vmlinuz"), Path.Combine(dir, "initrd.img"));
        if (!File.Exists(files.KernelPath)) await WriteAtomicallyAsync(files.KernelPath, kernelBytes);
        if (!File.Exists(files.InitrdPath)) await WriteAtomicallyAsync(files.InitrdPath, BuildInitrd(busybox, moduleBytes));
        return files;
    }

    private static async Task<string> BuildUefiDiskCoreAsync()
    {
        var files = await Files.Value;
        if (!File.Exists(SystemdBootPath))
            throw new InvalidOperationException($"{SystemdBootPath} is missing; install systemd-boot-efi.");
        var path = Path.Combine(Path.GetDirectoryName(files.KernelPath)!, "uefi-disk.raw");
        if (File.Exists(path)) return path;

        var root = FatDirectory.CreateRoot();
        var boot = await File.ReadAllBytesAsync(SystemdBootPath);
        root.AddFile("EFI/BOOT/BOOTX64.EFI", boot);
        root.AddFile("EFI/systemd/systemd-bootx64.efi", boot);
        root.AddFile("vmlinuz", await File.ReadAllBytesAsync(files.KernelPath));
        root.AddFile("initrd.img", await File.ReadAllBytesAsync(files.InitrdPath));
        root.AddFile("loader/loader.conf", Encoding.ASCII.GetBytes("default outpost-test-guest.conf\ntimeout 0\nconsole-mode keep\n"));
        root.AddFile("loader/entries/outpost-test-guest.conf", Encoding.ASCII.GetBytes(
            $"title Outpost test guest\nlinux /vmlinuz\ninitrd /initrd.img\noptions {UefiKernelOptions}\n"));

        // 64 MiB: FAT32 (what firmware prefers for an ESP) with room to spare for the ~12 MiB of files.
        var layout = PartitionPlan.Layout([new PartitionSpec(1, "EFI System", EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid, 64 * PartitionPlan.MiB, 0)]);
        var esp = layout.Find(1)!;
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        await using (var disk = new FileStream(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
        {
            GptWriter.Write(disk, layout);
            disk.Position = esp.ByteOffset;
            var options = new FatVolumeOptions(esp.ByteLength, "ESP", new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc), 0x0C7E57A1)
            {
                HiddenSectors = (uint)esp.FirstLba,
            };
            await FatWriter.WriteAsync(disk, root, options);
        }
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>The newest <c>/boot/vmlinuz-VERSION</c> that has a <c>/lib/modules/VERSION/modules.dep</c>.</summary>
    private static (string Path, string Version) FindKernel()
    {
        var candidates = Directory.Exists("/boot") ? Directory.GetFiles("/boot", "vmlinuz-*") : [];
        var found = candidates
            .Select(p => (Path: p, Version: Path.GetFileName(p)["vmlinuz-".Length..]))
            .Where(k => File.Exists($"/lib/modules/{k.Version}/modules.dep"))
            .OrderByDescending(k => k.Version, StringComparer.Ordinal)
            .FirstOrDefault();
        return found.Path is null
            ? throw new InvalidOperationException("No /boot/vmlinuz-VERSION with /lib/modules/VERSION/modules.dep; install linux-image-amd64.")
            : found;
    }

    /// <summary>Module paths relative to lib/modules/VERSION, dependencies first; names not in modules.dep are built in and skipped.</summary>
    private static List<string> ResolveLoadOrder(string modulesDep, IEnumerable<string> wanted)
    {
        static string Name(string path)
        {
            var file = path[(path.LastIndexOf('/') + 1)..];
            var dot = file.IndexOf(".ko", StringComparison.Ordinal);
            return (dot < 0 ? file : file[..dot]).Replace('-', '_');
        }
        var byName = new Dictionary<string, (string Path, string[] Deps)>(StringComparer.Ordinal);
        foreach (var line in modulesDep.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            var path = line[..colon].Trim();
            byName[Name(path)] = (path, line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        var order = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Visit(string path)
        {
            if (!seen.Add(path)) return;
            if (byName.TryGetValue(Name(path), out var entry))
                foreach (var dep in entry.Deps) Visit(dep);
            order.Add(path);
        }
        foreach (var name in wanted)
            if (byName.TryGetValue(name, out var module)) Visit(module.Path);
        if (order.Any(p => !p.EndsWith(".ko", StringComparison.Ordinal)))
            throw new InvalidOperationException("The kernel's modules are compressed (.ko.xz/.ko.zst); busybox insmod needs plain .ko files.");
        return order;
    }

    private static byte[] BuildInitrd(byte[] busybox, List<(string Name, byte[] Content)> modules)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            var cpio = new NewcWriter(gzip);
            foreach (var dir in new[] { "bin", "dev", "etc", "lib", "lib/modules", "mnt", "proc", "sys", "tmp" })
                cpio.Directory(dir);
            // The kernel opens /dev/console for /init before devtmpfs is mounted.
            cpio.CharDevice("dev/console", 5, 1);
            cpio.File("bin/busybox", busybox, 0b111_101_101);
            cpio.File("init", Encoding.UTF8.GetBytes(InitScript), 0b111_101_101);
            cpio.File("etc/modules", Encoding.UTF8.GetBytes(string.Concat(modules.Select(m => m.Name + "\n"))), 0b110_100_100);
            foreach (var (name, content) in modules) cpio.File($"lib/modules/{name}", content, 0b110_100_100);
            cpio.Trailer();
        }
        return output.ToArray();
    }

    private static async Task WriteAtomicallyAsync(string path, byte[] content)
    {
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllBytesAsync(temp, content);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The "newc" cpio format the kernel unpacks as an initramfs: 070701 headers, 4-byte alignment, TRAILER!!!.</summary>
    private sealed class NewcWriter(Stream output)
    {
        private int _inode = 1;

        public void Directory(string path) => Write(path, 0x4000 | 0b111_101_101, 2, [], 0, 0);

        public void CharDevice(string path, int major, int minor) => Write(path, 0x2000 | 0b110_000_000, 1, [], major, minor);

        public void File(string path, byte[] content, int mode) => Write(path, 0x8000 | mode, 1, content, 0, 0);

        public void Trailer() => Write("TRAILER!!!", 0, 1, [], 0, 0);

        private void Write(string name, int mode, int links, byte[] data, int rdevMajor, int rdevMinor)
        {
            var nameBytes = Encoding.UTF8.GetBytes(name + "\0");
            var header = new StringBuilder("070701");
            var inode = name == "TRAILER!!!" ? 0 : _inode++;
            foreach (var field in new long[] { inode, mode, 0, 0, links, FixedMTime, data.Length, 0, 0, rdevMajor, rdevMinor, nameBytes.Length, 0 })
                header.Append(((uint)field).ToString("x8", CultureInfo.InvariantCulture));
            var headerBytes = Encoding.ASCII.GetBytes(header.ToString());
            output.Write(headerBytes);
            output.Write(nameBytes);
            Pad(headerBytes.Length + nameBytes.Length);
            output.Write(data);
            Pad(data.Length);
        }

        private void Pad(int length)
        {
            var padding = (4 - length % 4) % 4;
            if (padding > 0) output.Write(new byte[padding]);
        }
    }

    // Runs as PID 1 under busybox sh. Everything goes to ttyS0 (the tests' serial log); PID 1 must never exit, so the
    // script ends in an endless loop respawning the interactive shell.
    private const string InitScript = """
        #!/bin/busybox sh
        /bin/busybox mount -t proc proc /proc
        /bin/busybox --install -s /bin
        export PATH=/bin HOME=/ TERM=dumb
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev
        for m in $(cat /etc/modules); do insmod "/lib/modules/$m" 2>/dev/null; done
        T=/dev/ttyS0
        say() { echo "outpost-test-guest: $*" >$T; }
        i=1
        while [ $i -le 3 ]; do say "tick $i"; sleep 1; i=$((i+1)); done
        say ready
        say "memory-kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo)"
        say "cpus=$(nproc)"
        dev=
        try=0
        while [ -z "$dev" ] && [ $try -lt 10 ]; do
          dev=$(findfs LABEL=CIDATA 2>/dev/null || findfs LABEL=cidata 2>/dev/null)
          [ -n "$dev" ] || usleep 200000
          try=$((try+1))
        done
        if [ -n "$dev" ] && mount -o ro "$dev" /mnt 2>/dev/null; then
          field() { sed -n "s/^$1: *//p" /mnt/meta-data 2>/dev/null | tr -d '\r"' | head -n 1; }
          say "cidata instance-id=$(field instance-id) hostname=$(field local-hostname)"
          if [ -f /mnt/user-data ]; then
            tr -d '\r' </mnt/user-data | while IFS= read -r line || [ -n "$line" ]; do say "user-data: $line"; done
          fi
        else
          say "no cidata"
        fi
        ( n=0; while :; do sleep 5; n=$((n+1)); say "alive $n"; done ) &
        say "shell on ttyS0"
        while :; do
          setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'
          sleep 1
        done
        """;
}
