namespace Outpost.Device.Init;

/// <summary>
/// Loads every kernel module the image carries. The image builder packs only what a device needs (network and disk
/// drivers, the watchdog, ext4, vfat, overlay, bridges and nftables) with a depmod index, so "all of them" is the
/// device's list, kept in one place — the image's kernel input.
/// </summary>
internal static class KernelModuleLoader
{
    public static async Task LoadAsync(BootLog log)
    {
        var release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        var directory = Path.Combine("/lib/modules", release);
        var dep = Path.Combine(directory, "modules.dep");
        if (!File.Exists(dep))
        {
            log.Say($"modules: {dep} is missing; only built-in drivers are available");
            return;
        }
        var names = File.ReadLines(dep)
            .Select(l => l.Split(':')[0].Trim())
            .Where(p => p.Length > 0)
            .Select(p => Path.GetFileName(p).Split('.')[0])
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToArray();
        var result = await Tools.RunAsync("modprobe", ["-a", .. names], CancellationToken.None);
        log.Say(result.Succeeded ? $"modules: loaded {names.Length}" : $"modules: some did not load: {result.Output.Trim()}");
    }
}
