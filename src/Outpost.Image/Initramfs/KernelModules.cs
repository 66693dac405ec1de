namespace Outpost.Image.Initramfs;

/// <summary>
/// Finds kernel modules and their dependencies in the rootfs via <c>lib/modules/VERSION/modules.dep</c>,
/// in the order they must be loaded (dependencies first).
/// </summary>
public static class KernelModules
{
    /// <summary>What the initramfs needs to reach a squashfs root on a virtio or SATA/NVMe disk; built-in drivers are simply absent from modules.dep.</summary>
    public static readonly IReadOnlyList<string> RootDiskModules = ["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "ahci", "nvme", "squashfs"];

    /// <summary>Returns module paths relative to <c>lib/modules/VERSION/</c>, dependencies first; names missing from modules.dep are skipped (built in or not needed).</summary>
    public static IReadOnlyList<string> ResolveLoadOrder(string modulesDep, IEnumerable<string> wanted)
    {
        var dependencies = new Dictionary<string, (string Path, string[] Deps)>(StringComparer.Ordinal);
        foreach (var line in modulesDep.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            var path = line[..colon].Trim();
            var deps = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            dependencies[ModuleName(path)] = (path, deps);
        }
        var byPath = dependencies.Values.ToDictionary(v => v.Path, StringComparer.Ordinal);
        var order = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Visit(string path)
        {
            if (!seen.Add(path)) return;
            if (byPath.TryGetValue(path, out var entry))
                foreach (var dep in entry.Deps) Visit(dep);
            order.Add(path);
        }
        foreach (var name in wanted)
            if (dependencies.TryGetValue(name.Replace('-', '_'), out var module)) Visit(module.Path);
        return order;
    }

    private static string ModuleName(string path)
    {
        var file = path[(path.LastIndexOf('/') + 1)..];
        var dot = file.IndexOf(".ko", StringComparison.Ordinal);
        return (dot < 0 ? file : file[..dot]).Replace('-', '_');
    }
}
