using System.Text;
using Outpost.Image.Initramfs;
using Outpost.Image.Rootfs;
using Outpost.Image.Tar;

namespace Outpost.Image.Layouts;

/// <summary>Host files the demo images are packed from (Debian: linux-image-amd64, busybox-static).</summary>
public sealed record DemoInputSources
{
    /// <summary>Kernel image; null picks the newest /boot/vmlinuz-*.</summary>
    public string? KernelPath { get; init; }
    public string ModulesRoot { get; init; } = "/lib/modules";
    public string BusyboxPath { get; init; } = "/bin/busybox";
}

/// <summary>
/// Makes the example's three input images offline as local OCI layouts, no Docker: a kernel image (kernel
/// + kernel.tar with the disk/squashfs modules), an init image (static busybox + a tiny init that runs the
/// containers) and a service image (busybox; the YAML gives each container its command).
/// </summary>
public static class DemoInputs
{
    public const string MarkerPrefix = "OUTPOST-DEMO-MARKER:";
    private static readonly string[] Applets =
    [
        "sh", "mount", "umount", "awk", "chroot", "cat", "grep", "sed", "echo", "sleep", "poweroff", "reboot", "sync",
        "uname", "ls", "mkdir", "rm", "head", "insmod", "switch_root",
    ];

    public static async Task CreateAsync(string imagesDirectory, DemoInputSources? sources, CancellationToken cancellationToken)
    {
        sources ??= new DemoInputSources();
        var kernelPath = sources.KernelPath ?? FindNewestKernel();
        var version = Path.GetFileName(kernelPath)["vmlinuz-".Length..];

        var kernel = new OciLayoutBuilder().AddHostFile("kernel", kernelPath, 0b110_100_100)
            .AddFile("kernel.tar", await KernelModulesTarAsync(Path.Combine(sources.ModulesRoot, version), version, cancellationToken));
        await kernel.WriteAsync(Path.Combine(imagesDirectory, "kernel"), "latest", cancellationToken);

        var init = BusyboxBase(sources.BusyboxPath);
        init.AddFile("sbin/init", await ReadDemoInitAsync(cancellationToken), 0b111_101_101);
        foreach (var dir in new[] { "dev", "proc", "sys", "tmp", "run", "containers" }) init.AddDirectory(dir);
        init.AddFile("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        await init.WriteAsync(Path.Combine(imagesDirectory, "init"), "latest", cancellationToken);

        var service = BusyboxBase(sources.BusyboxPath);
        service.Cmd = ["/bin/sh", "-c", $"echo '{MarkerPrefix} hello from a service'"];
        await service.WriteAsync(Path.Combine(imagesDirectory, "busybox"), "latest", cancellationToken);
    }

    private static OciLayoutBuilder BusyboxBase(string busyboxPath)
    {
        var builder = new OciLayoutBuilder().AddHostFile("bin/busybox", busyboxPath, 0b111_101_101);
        foreach (var applet in Applets) builder.AddSymlink($"bin/{applet}", "busybox");
        return builder;
    }

    private static string FindNewestKernel()
    {
        var kernels = Directory.Exists("/boot") ? Directory.GetFiles("/boot", "vmlinuz-*").Order(StringComparer.Ordinal).ToArray() : [];
        return kernels.LastOrDefault()
            ?? throw new ImageBuildException("no /boot/vmlinuz-* found. Install Debian's kernel (apt-get install linux-image-amd64) or pass the kernel path.");
    }

    /// <summary>A kernel.tar with modules.dep and only the modules the initramfs loads (the full tree is hundreds of MB).</summary>
    private static async Task<byte[]> KernelModulesTarAsync(string modulesDirectory, string version, CancellationToken cancellationToken)
    {
        var depPath = Path.Combine(modulesDirectory, "modules.dep");
        if (!File.Exists(depPath))
            throw new ImageBuildException($"{depPath} does not exist; the kernel's modules are not installed. Install the matching linux-image package.");
        var dep = await File.ReadAllTextAsync(depPath, cancellationToken);
        var tree = new FsTree();
        var prefix = $"lib/modules/{version}";
        tree.Set($"{prefix}/modules.dep", FsEntry.File(Encoding.UTF8.GetBytes(dep), 0));
        foreach (var module in KernelModules.ResolveLoadOrder(dep, KernelModules.RootDiskModules))
            tree.Set($"{prefix}/{module}", FsEntry.File(await File.ReadAllBytesAsync(Path.Combine(modulesDirectory, module), cancellationToken), 0));
        using var output = new MemoryStream();
        await new PaxTarWriter(output).WriteTreeAsync(tree, cancellationToken);
        return output.ToArray();
    }

    private static async Task<string> ReadDemoInitAsync(CancellationToken cancellationToken)
    {
        await using var stream = typeof(DemoInputs).Assembly.GetManifestResourceStream("Outpost.Image.Layouts.DemoInit.sh")
            ?? throw new InvalidOperationException("the demo init script is not embedded in Outpost.Image");
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync(cancellationToken);
    }
}
