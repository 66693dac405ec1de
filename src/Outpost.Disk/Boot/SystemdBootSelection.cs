using System.Globalization;

namespace Outpost.Disk.Boot;

/// <summary>An entry as systemd-boot sees it: its file name and the keys that order it.</summary>
public sealed record LoaderEntry(BootEntryName Name, string SortKey, string Version, string Linux, string Initrd, string Options)
{
    /// <summary>Reads the keys of an entry file; unknown keys are ignored, as systemd-boot does.</summary>
    public static LoaderEntry Parse(BootEntryName name, string content)
    {
        string Key(string key) => content.Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.StartsWith(key + " ", StringComparison.Ordinal) || l.StartsWith(key + "\t", StringComparison.Ordinal))
            .Select(l => l[key.Length..].Trim()).LastOrDefault() ?? "";
        return new LoaderEntry(name, Key("sort-key"), Key("version"), Key("linux").TrimStart('/'), Key("initrd").TrimStart('/'), Key("options"));
    }

    /// <summary>The partition named by <c>root=PARTLABEL=</c> in the options, or null.</summary>
    public string? RootPartLabel => Options.Split(' ', StringSplitOptions.RemoveEmptyEntries)
        .Where(o => o.StartsWith("root=PARTLABEL=", StringComparison.Ordinal)).Select(o => o["root=PARTLABEL=".Length..]).LastOrDefault();
}

/// <summary>What systemd-boot would boot and the file rename it does first.</summary>
public sealed record LoaderChoice(LoaderEntry Entry, BootEntryName NameAfterAttempt)
{
    public bool Renames => NameAfterAttempt != Entry.Name;
}

/// <summary>
/// systemd-boot's choice among Type #1 entries as a pure function (the harness and the agent predict the next boot
/// with it): entries with no tries left sort after the rest; then by sort-key, then by version, newest first, then by
/// id, newest first; <c>default outpost-*</c> takes the first match in that order. A counted entry is renamed (one
/// try less, one done more) before it boots; a bad one (0 left) is still booted when it is all that is left.
/// </summary>
public static class SystemdBootSelection
{
    public static LoaderChoice? Choose(IEnumerable<LoaderEntry> entries, string defaultPattern = SystemdBootEntries.IdPrefix)
    {
        var ordered = entries.Order(EntryOrder.Instance).ToList();
        var chosen = ordered.FirstOrDefault(e => e.Name.Id.StartsWith(defaultPattern, StringComparison.OrdinalIgnoreCase)) ?? ordered.FirstOrDefault();
        return chosen is null ? null : new LoaderChoice(chosen, chosen.Name.AfterBootAttempt());
    }

    private sealed class EntryOrder : IComparer<LoaderEntry>
    {
        public static readonly EntryOrder Instance = new();

        public int Compare(LoaderEntry? a, LoaderEntry? b)
        {
            if (ReferenceEquals(a, b)) return 0;
            if (a is null) return 1;
            if (b is null) return -1;
            int r = a.Name.IsBad.CompareTo(b.Name.IsBad);
            if (r != 0) return r;
            r = (a.SortKey.Length == 0).CompareTo(b.SortKey.Length == 0);
            if (r != 0) return r;
            r = string.CompareOrdinal(a.SortKey, b.SortKey);
            if (r != 0) return r;
            r = -CompareVersions(a.Version, b.Version);
            if (r != 0) return r;
            r = -CompareVersions(a.Name.Id, b.Name.Id);
            if (r != 0) return r;
            // Same id twice (two counter states of one entry): more tries left first, fewer done first.
            r = -(a.Name.TriesLeft ?? int.MaxValue).CompareTo(b.Name.TriesLeft ?? int.MaxValue);
            return r != 0 ? r : (a.Name.TriesDone ?? 0).CompareTo(b.Name.TriesDone ?? 0);
        }
    }

    /// <summary>A simplified strverscmp: runs of digits compare as numbers, everything else by character.</summary>
    internal static int CompareVersions(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            if (char.IsAsciiDigit(a[i]) && char.IsAsciiDigit(b[j]))
            {
                int si = i, sj = j;
                while (i < a.Length && char.IsAsciiDigit(a[i])) i++;
                while (j < b.Length && char.IsAsciiDigit(b[j])) j++;
                var na = a[si..i].TrimStart('0');
                var nb = b[sj..j].TrimStart('0');
                int r = na.Length != nb.Length ? na.Length.CompareTo(nb.Length) : string.CompareOrdinal(na, nb);
                if (r != 0) return r;
            }
            else
            {
                if (a[i] != b[j]) return a[i].CompareTo(b[j]);
                i++;
                j++;
            }
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }
}
