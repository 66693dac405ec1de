using System.Text;
using Outpost.Image.Rootfs;

namespace Outpost.Image.Build;

/// <summary>Records what this OS image is (like EVE's /etc/eve-release, eve-hv-type, eve-platform) in one os-release style file.</summary>
internal static class ReleaseFiles
{
    public const string ReleasePath = "etc/outpost-release";

    public static void Add(FsTree tree, ImageBuildOptions options, long mtime)
    {
        var text = $"NAME=Outpost\nVERSION={options.Version}\nARCH={options.Architecture}\nHV={options.Hypervisor}\nPLATFORM={options.Platform}\n";
        tree.Set(ReleasePath, FsEntry.File(Encoding.UTF8.GetBytes(text), mtime) with { Source = "outpost", Location = "release" });
        // Mount points the boot needs even when no init image provides them (the root is a read-only squashfs).
        foreach (var dir in new[] { "dev", "proc", "sys", "tmp", "run" })
            if (tree.Get(dir) is null) tree.Set(dir, FsEntry.Directory(mtime) with { Source = "outpost", Location = "release" });
    }
}
