namespace Outpost.Agent.Workloads.Runc;

/// <summary>The rootfs runc will use, and a warning when it is not the preferred overlay.</summary>
internal sealed record PreparedRootfs(string Path, bool IsOverlay, string? Warning);

/// <summary>
/// Builds a workload's rootfs: an overlay of the read-only image layers with the app's writable
/// directory on top, or a plain copy of the layers when the host cannot mount overlayfs.
/// </summary>
internal static class RootfsBuilder
{
    public static PreparedRootfs Prepare(IReadOnlyList<string> lowerDirectories, string writableDirectory, string mountPoint, bool allowOverlay)
    {
        if (IsMountPoint(mountPoint))
        {
            return new PreparedRootfs(mountPoint, true, null);
        }

        string reason;
        if (!allowOverlay)
        {
            reason = "overlay is disabled in the driver options";
        }
        else if (TryMountOverlay(lowerDirectories, writableDirectory, mountPoint, out reason))
        {
            return new PreparedRootfs(mountPoint, true, null);
        }

        var copy = Path.Combine(writableDirectory, "rootfs");
        if (!Directory.Exists(copy))
        {
            var partial = copy + ".partial";
            if (Directory.Exists(partial))
            {
                Directory.Delete(partial, recursive: true);
            }

            LayerCopier.CopyLayers(lowerDirectories, partial);
            Directory.Move(partial, copy);
        }

        return new PreparedRootfs(copy, false,
            $"The rootfs is a full copy of the image because overlayfs could not be mounted ({reason}); it uses more disk and took longer to prepare.");
    }

    public static void Unmount(string mountPoint)
    {
        if (!IsMountPoint(mountPoint))
        {
            return;
        }

        if (LibC.umount2(mountPoint, 0) != 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            // Something still holds the mount (a straggling process); detach it so delete can go on.
            if (errno != LibC.Ebusy || LibC.umount2(mountPoint, LibC.MntDetach) != 0)
            {
                throw new WorkloadRuntimeException($"Could not unmount the rootfs at {mountPoint}: {LibC.ErrorText(errno)}.");
            }
        }
    }

    public static bool IsMountPoint(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd('/');
        return File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' '))
            .Any(fields => fields.Length > 4 && Unescape(fields[4]) == full);
    }

    private static bool TryMountOverlay(IReadOnlyList<string> lowerDirectories, string writableDirectory, string mountPoint, out string reason)
    {
        var all = lowerDirectories.Append(writableDirectory).Append(mountPoint).ToList();
        if (all.Any(path => path.Contains(',') || path.Contains(':')))
        {
            reason = "a layer path contains ',' or ':', which overlay options cannot carry";
            return false;
        }

        var upper = Path.Combine(writableDirectory, "upper");
        var work = Path.Combine(writableDirectory, "work");
        Directory.CreateDirectory(upper);
        Directory.CreateDirectory(work);
        Directory.CreateDirectory(mountPoint);
        // overlayfs lists lower directories top-most first; the spec lists them base first.
        var lower = string.Join(':', lowerDirectories.Reverse().Select(Path.GetFullPath));
        var options = $"lowerdir={lower},upperdir={Path.GetFullPath(upper)},workdir={Path.GetFullPath(work)}";
        if (LibC.mount("overlay", mountPoint, "overlay", 0, options) == 0)
        {
            reason = "";
            return true;
        }

        reason = "mount failed: " + LibC.ErrorText(System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
        return false;
    }

    // mountinfo escapes space, tab, newline and backslash as octal.
    private static string Unescape(string field) =>
        field.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");
}
