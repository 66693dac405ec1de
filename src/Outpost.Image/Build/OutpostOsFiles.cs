using System.Diagnostics;
using System.Text;
using Outpost.Image.Rootfs;
using Outpost.Image.Spec;

namespace Outpost.Image.Build;

/// <summary>
/// What the <c>outpost:</c> section adds to a rootfs: the device binary as /usr/bin/outpost-device and as /sbin/init
/// (PID 1 starts the agent from the same file), udhcpc's hook, and the mount points the init uses on the read-only
/// root (/persist, /config). The base userland (Debian: runc, iproute2, e2fsprogs, busybox...) comes from the spec's
/// init images.
/// </summary>
internal static class OutpostOsFiles
{
    public const string DeviceBinary = "usr/bin/outpost-device";
    public const string DhcpHook = "usr/lib/outpost/dhcp-hook";
    private static readonly string[] RequiredTools = ["usr/bin/busybox", "usr/sbin/runc", "usr/sbin/ip", "usr/sbin/e2fsck", "usr/sbin/mkfs.ext4", "usr/sbin/modprobe", "usr/sbin/blkid"];

    public static async Task AddAsync(FsTree tree, OutpostSpec spec, ImageBuildOptions options, long mtime, CancellationToken cancellationToken)
    {
        var binary = options.DeviceBinary is { } resolve
            ? await resolve(cancellationToken)
            : throw new ImageBuildException($"the spec asks for the Outpost agent ('outpost:' at {spec.Location}) but no device binary was given. Pass --device-binary PATH (from `dotnet publish src/Outpost.Device -c Release`), or run the CLI from the source tree, which builds it.");
        if (!File.Exists(binary))
            throw new ImageBuildException($"device binary '{binary}' does not exist. Publish it with `dotnet publish src/Outpost.Device -c Release -o DIR` and pass --device-binary DIR/outpost-device.");
        if (spec.Version is { } wanted && await ReadVersionAsync(binary, cancellationToken) is var actual && actual != wanted)
            throw new ImageBuildException($"the spec asks for Outpost {wanted} ({spec.Location}) but the device binary {binary} is {actual}. Change 'outpost: version', or use the binary of that release.");
        foreach (var tool in RequiredTools)
            if (!tree.Contains(tool))
                throw new ImageBuildException($"the rootfs has no /{tool}, which the Outpost init needs. Use the Debian base image from `outpost image example-inputs` (mmdebstrap with runc, iproute2, e2fsprogs, kmod, busybox-static) as the spec's init.");

        Entry(tree, DeviceBinary, FsEntry.File(await File.ReadAllBytesAsync(binary, cancellationToken), mtime, 0b111_101_101));
        tree.Remove("sbin/init");
        Entry(tree, "sbin/init", FsEntry.Symlink("/" + DeviceBinary, mtime));
        Entry(tree, DhcpHook, FsEntry.File(Encoding.UTF8.GetBytes($"#!/bin/sh\n# udhcpc runs this with the event as $1 and the lease in the environment.\nexec /{DeviceBinary} dhcp-hook \"$@\"\n"), mtime, 0b111_101_101));
        foreach (var dir in new[] { "persist", "config" })
            if (tree.Get(dir) is null) Entry(tree, dir, FsEntry.Directory(mtime));
    }

    private static void Entry(FsTree tree, string path, FsEntry entry) => tree.Set(path, entry with { Source = "outpost", Location = "outpost" });

    /// <summary>The binary's own `--version` (System.CommandLine prints the informational version, without the commit).</summary>
    private static async Task<string> ReadVersionAsync(string binary, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(binary, "--version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start) ?? throw new ImageBuildException($"cannot run {binary} --version");
        var output = await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return output.Trim().Split('+')[0];
    }
}
