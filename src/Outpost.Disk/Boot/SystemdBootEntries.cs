using Outpost.Disk.Gpt;

namespace Outpost.Disk.Boot;

/// <summary>One loader entry file on the ESP (<c>loader/entries/NAME.conf</c>).</summary>
public sealed record BootEntryFile(string FileName, string Content);

/// <summary>
/// Mirrors EVE's GPT A/B states as systemd-boot entries with boot counting, because Debian's GRUB has no
/// gptprio (reference §3.6/§6.1). The GPT attributes are the truth; the entries are derived from them so that
/// systemd-boot makes gptprio's choice:
/// active (0x102) → <c>outpost-imga.conf</c> (no counter: known good);
/// updating (0x13) → <c>outpost-imgb+1.conf</c> (one try; systemd-boot renames it to <c>+0-1</c> before booting);
/// inprogress (0x3) → <c>outpost-imgb+0[-N].conf</c> (tries spent: "bad", sorted last, so the active one boots);
/// unused (0) → no entry. The GPT priority becomes the entry's <c>version</c>, and systemd-boot boots the
/// highest version first among good entries, as gptprio picks the highest priority.
/// </summary>
public static class SystemdBootEntries
{
    public const string SortKey = "outpost";
    public const string EntriesDirectory = "loader/entries";
    public const string IdPrefix = "outpost-";

    /// <summary>The entry id of a slot (<c>outpost-imgb</c>): the file name without counters and extension.</summary>
    public static string IdOf(string partitionName) => IdPrefix + partitionName.ToLowerInvariant();

    /// <summary>Where a slot's kernel and initramfs live on the ESP (per slot, so an update brings its own kernel).</summary>
    public static string PayloadDirectory(string partitionName) => $"EFI/outpost/{partitionName}";

    public static string KernelPath(string partitionName) => PayloadDirectory(partitionName) + "/vmlinuz";

    public static string InitrdPath(string partitionName) => PayloadDirectory(partitionName) + "/initrd.img";

    /// <summary>The entry file name the state asks for, or null for unused (no entry). Inprogress is <c>+0</c>.</summary>
    public static BootEntryName? NameFor(string partitionName, PartitionState state)
    {
        var id = IdOf(partitionName);
        if (state.Successful) return new BootEntryName(id, null, null);
        if (state.Priority == 0 && state.TriesLeft == 0) return null;
        return new BootEntryName(id, state.TriesLeft, null);
    }

    /// <summary>True when an existing entry name expresses the state (an inprogress slot keeps whatever done count systemd-boot gave it).</summary>
    public static bool Expresses(BootEntryName existing, string partitionName, PartitionState state) =>
        NameFor(partitionName, state) is { } wanted && existing.Id == wanted.Id && existing.TriesLeft == wanted.TriesLeft
        && (existing.TriesDone is null || wanted.TriesLeft == 0);

    public static BootEntryFile? For(string partitionName, PartitionState state, string osVersion, string cmdline)
    {
        if (NameFor(partitionName, state) is not { } name) return null;
        var title = osVersion.Length > 0 ? $"Outpost {osVersion} ({partitionName})" : $"Outpost ({partitionName})";
        var content = $"""
            title {title}
            sort-key {SortKey}
            version {state.Priority}
            linux /{KernelPath(partitionName)}
            initrd /{InitrdPath(partitionName)}
            options root=PARTLABEL={partitionName} {cmdline}

            """;
        return new BootEntryFile(name.FileName, content);
    }

    /// <summary>Boot the best entry at once; the serial console shows the kernel, not a menu.</summary>
    public static string LoaderConf => "timeout 0\ndefault outpost-*\nconsole-mode keep\n";
}
