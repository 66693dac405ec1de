namespace Outpost.Device.Init;

/// <summary>What happened to the persist partition at boot, for the console, the log and the agent's report.</summary>
internal sealed record PersistOutcome(string Device, bool Mounted, string? Formatted, string? Repaired);

/// <summary>
/// The persist partition (GPT name P3), mounted ext4 at /persist. Like EVE's storage-init: a partition with no
/// filesystem (first boot of a fresh image) is formatted; a damaged one is checked and repaired with e2fsck, and
/// reformatted only when the check cannot repair it — and then the reason is said and kept in
/// /persist/status/reformatted. Nothing else ever formats it.
/// </summary>
internal static class PersistStorage
{
    public const string PartitionName = "P3";
    public const string Label = "persist";

    public static async Task<PersistOutcome> PrepareAsync(string device, string mountPoint, BootLog log, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(mountPoint);
        string? formatted = null, repaired = null;
        var type = await Tools.RunAsync("blkid", ["-o", "value", "-s", "TYPE", device], cancellationToken);
        if (type.Output.Trim().Length == 0)
        {
            // blkid finds no signature: the image ships P3 as zeros, so this is the first boot.
            formatted = $"{device} held no filesystem (first boot)";
        }
        else if (type.Output.Trim() != "ext4")
        {
            formatted = $"{device} held {type.Output.Trim()}, not ext4";
        }
        else
        {
            // -p repairs what is safe to repair without a question; exit 0 clean, 1 or 2 repaired, 4+ not repaired.
            var check = await Tools.RunAsync("e2fsck", ["-p", device], cancellationToken);
            if (check.ExitCode is 1 or 2) repaired = $"e2fsck repaired {device}: {check.LastLine}";
            else if (check.ExitCode >= 4)
            {
                var forced = await Tools.RunAsync("e2fsck", ["-f", "-y", device], cancellationToken);
                if (forced.ExitCode is 0 or 1 or 2) repaired = $"e2fsck -y repaired {device}: {forced.LastLine}";
                else formatted = $"{device} is damaged beyond repair (e2fsck exit {forced.ExitCode}: {forced.LastLine})";
            }
        }

        if (repaired is not null) log.Say("persist: " + repaired);
        if (formatted is not null)
        {
            await PersistGrowth.GrowToDiskEndAsync(device, log, cancellationToken);
            log.Say($"persist: formatting {device} as ext4 because {formatted}");
            var mkfs = await Tools.RunAsync("mkfs.ext4", ["-q", "-F", "-L", Label, device], cancellationToken);
            if (!mkfs.Succeeded)
            {
                log.Say($"persist: mkfs.ext4 {device} failed: {mkfs.LastLine}; running without persist (state kept in memory)");
                return new PersistOutcome(device, false, formatted, repaired);
            }
        }

        try
        {
            Native.Mount(device, mountPoint, "ext4", Native.MsNodev | Native.MsNosuid | Native.MsRelatime);
        }
        catch (IOException e)
        {
            log.Say($"persist: {e.Message}; running without persist (state kept in memory)");
            return new PersistOutcome(device, false, formatted, repaired);
        }

        var status = Directory.CreateDirectory(Path.Combine(mountPoint, "status")).FullName;
        if (formatted is not null) File.WriteAllText(Path.Combine(status, "reformatted"), $"{DateTimeOffset.UtcNow:O} {formatted}\n");
        if (repaired is not null) File.WriteAllText(Path.Combine(status, "repaired"), $"{DateTimeOffset.UtcNow:O} {repaired}\n");
        return new PersistOutcome(device, true, formatted, repaired);
    }
}
