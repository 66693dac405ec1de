using System.Formats.Tar;
using System.Security.Cryptography;

namespace Outpost.Image.Diff;

public enum RootfsChangeKind
{
    Added,
    Removed,
    Modified,
}

/// <summary>One path that differs; <see cref="Details"/> says what (content, mode, owner, type, link), e.g. "mode 0644 → 0755".</summary>
public sealed record RootfsChange(string Path, RootfsChangeKind Kind, IReadOnlyList<string> Details);

/// <summary>
/// Lists the files that differ between two rootfs tars (for example two builds, or two OS versions before an
/// A/B update). Modification times are ignored unless asked for, since rebuilding with another
/// SOURCE_DATE_EPOCH changes every one of them.
/// </summary>
public static class RootfsDiff
{
    private sealed record Item(TarEntryType Type, int Mode, int Uid, int Gid, long Size, string Sha256, string LinkName, long MTime);

    public static async Task<IReadOnlyList<RootfsChange>> CompareAsync(string oldTar, string newTar, bool includeMTime, CancellationToken cancellationToken)
    {
        var before = await ReadAsync(oldTar, cancellationToken);
        var after = await ReadAsync(newTar, cancellationToken);
        var changes = new List<RootfsChange>();
        foreach (var path in before.Keys.Union(after.Keys).Order(StringComparer.Ordinal))
        {
            var hadIt = before.TryGetValue(path, out var a);
            var hasIt = after.TryGetValue(path, out var b);
            if (!hadIt) changes.Add(new RootfsChange(path, RootfsChangeKind.Added, []));
            else if (!hasIt) changes.Add(new RootfsChange(path, RootfsChangeKind.Removed, []));
            else if (Differences(a!, b!, includeMTime) is { Count: > 0 } details) changes.Add(new RootfsChange(path, RootfsChangeKind.Modified, details));
        }
        return changes;
    }

    private static List<string> Differences(Item a, Item b, bool includeMTime)
    {
        var details = new List<string>();
        if (a.Type != b.Type) details.Add($"type {a.Type} → {b.Type}");
        if (a.Sha256 != b.Sha256) details.Add($"content ({a.Size} → {b.Size} bytes)");
        if (a.Mode != b.Mode) details.Add($"mode {Octal(a.Mode)} → {Octal(b.Mode)}");
        if (a.Uid != b.Uid || a.Gid != b.Gid) details.Add($"owner {a.Uid}:{a.Gid} → {b.Uid}:{b.Gid}");
        if (a.LinkName != b.LinkName) details.Add($"link {a.LinkName} → {b.LinkName}");
        if (includeMTime && a.MTime != b.MTime) details.Add($"mtime {a.MTime} → {b.MTime}");
        return details;
    }

    private static string Octal(int mode) => "0" + Convert.ToString(mode & 0xFFF, 8).PadLeft(3, '0');

    private static async Task<Dictionary<string, Item>> ReadAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path)) throw new ImageBuildException($"rootfs tar '{path}' does not exist; pass two rootfs.tar files made by 'outpost image build'.");
        var items = new Dictionary<string, Item>(StringComparer.Ordinal);
        await using var file = File.OpenRead(path);
        await using var reader = new TarReader(file);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            var sha = "";
            if (entry.DataStream is { } data) sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(data, cancellationToken));
            var name = entry.Name.TrimStart('.', '/').TrimEnd('/');
            items[name] = new Item(entry.EntryType, (int)entry.Mode, entry.Uid, entry.Gid, entry.Length, sha, entry.LinkName, entry.ModificationTime.ToUnixTimeSeconds());
        }
        return items;
    }
}
