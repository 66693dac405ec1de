namespace Outpost.Image.Initramfs;

/// <summary>
/// Finds kernel modules and their dependencies in the rootfs via <c>lib/modules/VERSION/modules.dep</c>,
/// in the order they must be loaded (dependencies first).
/// </summary>
public static class KernelModules
{
    /// <summary>What the initramfs needs to reach a squashfs root on a virtio or SATA/NVMe disk; built-in drivers are simply absent from modules.dep.</summary>
    public static readonly IReadOnlyList<string> RootDiskModules = ["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "ahci", "nvme", "squashfs"];

    /// <summary>
    /// What an Outpost OS device loads at boot besides the root disk's drivers: NICs (virtio, Intel), the i6300esb
    /// watchdog QEMU emulates, the filesystems of persist (ext4) and CONFIG (vfat with its code pages), overlay for
    /// container roots, and bridges, veths, tun and nftables for app networks. The Outpost init loads every module the
    /// image carries, so this list is the one place that decides.
    /// </summary>
    public static readonly IReadOnlyList<string> DeviceModules =
    [
        "virtio_net", "e1000", "e1000e", "i6300esb", "ext4", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "overlay", "loop",
        "bridge", "br_netfilter", "veth", "tun", "nf_tables", "nft_chain_nat", "nft_masq", "nft_ct", "nft_nat", "nf_conntrack",
        "virtio_rng", "virtio_console",
        // Loaded by name through the crypto API (ext4's and conntrack's checksums), so no modules.dep line pulls them in.
        "crc32c_generic",
    ];

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
