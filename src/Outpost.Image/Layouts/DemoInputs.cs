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

    /// <summary>Also make the Debian userland of the device image (mmdebstrap; needs root and the Debian mirror).</summary>
    public bool DebianBase { get; init; } = true;

    /// <summary>Where the Debian base tarball is cached; null is ~/.cache/outpost/debian-base.</summary>
    public string? DebianBaseCache { get; init; }
}

/// <summary>
/// Makes the examples' input images as local OCI layouts, no Docker: a kernel image (kernel + kernel.tar with the
/// modules a device loads and their depmod index), the Debian userland of the device image (<see cref="DebianBase"/>),
/// a busybox service image (the YAML gives each container its command), and the tiny busybox init that the minimal
/// builder test image boots with.
/// </summary>
public static class DemoInputs
{
    public const string MarkerPrefix = "OUTPOST-DEMO-MARKER:";
    private static readonly string[] Applets =
    [
        "sh", "mount", "umount", "awk", "chroot", "cat", "grep", "sed", "echo", "sleep", "poweroff", "reboot", "sync",
        "uname", "ls", "mkdir", "rm", "head", "insmod", "switch_root",
    ];

    public static async Task CreateAsync(string imagesDirectory, DemoInputSources? sources, CancellationToken cancellationToken, IProgress<string>? progress = null)
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

        if (sources.DebianBase) await DebianBase.CreateAsync(Path.Combine(imagesDirectory, "debian-base"), sources.DebianBaseCache, progress, cancellationToken);
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

    /// <summary>
    /// A kernel.tar with only the modules the initramfs and the device load (the full tree is hundreds of MB), and the
    /// index depmod makes for exactly that set, so the device's modprobe resolves names and dependencies.
    /// </summary>
    private static async Task<byte[]> KernelModulesTarAsync(string modulesDirectory, string version, CancellationToken cancellationToken)
    {
        var depPath = Path.Combine(modulesDirectory, "modules.dep");
        if (!File.Exists(depPath))
            throw new ImageBuildException($"{depPath} does not exist; the kernel's modules are not installed. Install the matching linux-image package.");
        var dep = await File.ReadAllTextAsync(depPath, cancellationToken);
        var staging = Directory.CreateTempSubdirectory("outpost-modules-");
        try
        {
            var staged = Path.Combine(staging.FullName, "lib", "modules", version);
            foreach (var module in KernelModules.ResolveLoadOrder(dep, [.. KernelModules.RootDiskModules, .. KernelModules.DeviceModules]))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(staged, module))!);
                File.Copy(Path.Combine(modulesDirectory, module), Path.Combine(staged, module));
            }
            foreach (var index in new[] { "modules.order", "modules.builtin", "modules.builtin.modinfo" })
                if (File.Exists(Path.Combine(modulesDirectory, index))) File.Copy(Path.Combine(modulesDirectory, index), Path.Combine(staged, index));
            await RunDepmodAsync(staging.FullName, version, cancellationToken);

            var tree = new FsTree();
            foreach (var file in Directory.EnumerateFiles(staged, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                tree.Set($"lib/modules/{version}/{Path.GetRelativePath(staged, file)}", FsEntry.File(await File.ReadAllBytesAsync(file, cancellationToken), 0));
            using var output = new MemoryStream();
            await new PaxTarWriter(output).WriteTreeAsync(tree, cancellationToken);
            return output.ToArray();
        }
        finally
        {
            staging.Delete(recursive: true);
        }
    }

    private static async Task RunDepmodAsync(string baseDirectory, string version, CancellationToken cancellationToken)
    {
        var start = new System.Diagnostics.ProcessStartInfo("depmod") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-b", baseDirectory, version }) start.ArgumentList.Add(argument);
        System.Diagnostics.Process process;
        try
        {
            process = System.Diagnostics.Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new ImageBuildException("depmod is not installed; it indexes the kernel modules of the device image. Install it with `apt-get install kmod`.");
        }
        using (process)
        {
            var error = await process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0) throw new ImageBuildException($"depmod failed (exit {process.ExitCode}): {error.Trim()}");
        }
    }

    private static async Task<string> ReadDemoInitAsync(CancellationToken cancellationToken)
    {
        await using var stream = typeof(DemoInputs).Assembly.GetManifestResourceStream("Outpost.Image.Layouts.DemoInit.sh")
            ?? throw new InvalidOperationException("the demo init script is not embedded in Outpost.Image");
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync(cancellationToken);
    }
}
