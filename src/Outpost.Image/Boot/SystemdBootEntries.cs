using Outpost.Disk.Gpt;

namespace Outpost.Image.Boot;

/// <summary>One loader entry file on the ESP (<c>loader/entries/NAME.conf</c>).</summary>
public sealed record BootEntryFile(string FileName, string Content);

/// <summary>
/// Mirrors EVE's GPT A/B states as systemd-boot entries with boot counting, because Debian's GRUB has no
/// gptprio (reference §3.6/§6.1). The mapping keeps gptprio's choice:
/// active (0x102) → <c>outpost-imga.conf</c> (no counter: known good);
/// updating (0x13) → <c>outpost-imgb+1.conf</c> (one try; systemd-boot renames it to <c>+0-1</c> before booting);
/// inprogress (0x3) → <c>outpost-imgb+0.conf</c> (tries spent: "bad", sorted last, so the active one boots);
/// unused (0) → no entry. The GPT priority becomes the entry's <c>version</c>, and systemd-boot boots the
/// highest version first among good entries, like gptprio picks the highest priority.
/// </summary>
public static class SystemdBootEntries
{
    public const string SortKey = "outpost";

    public static BootEntryFile? For(string partitionName, PartitionState state, string osVersion, string kernelPath, string initrdPath, string cmdline)
    {
        var id = "outpost-" + partitionName.ToLowerInvariant();
        string fileName;
        if (state.Successful) fileName = id + ".conf";
        else if (state.Priority == 0 && state.TriesLeft == 0) return null;
        else fileName = $"{id}+{state.TriesLeft}.conf";

        var content = $"""
            title Outpost {osVersion} ({partitionName})
            sort-key {SortKey}
            version {state.Priority}
            linux {kernelPath}
            initrd {initrdPath}
            options root=PARTLABEL={partitionName} {cmdline}

            """;
        return new BootEntryFile(fileName, content);
    }

    /// <summary>Boot the best entry at once; the serial console shows the kernel, not a menu.</summary>
    public static string LoaderConf => "timeout 0\ndefault outpost-*\nconsole-mode keep\n";
}
