using System.Globalization;
using System.Text.RegularExpressions;

namespace Outpost.Disk.Boot;

/// <summary>
/// A Boot Loader Specification entry file name with systemd-boot's boot counters:
/// <c>ID[+LEFT[-DONE]].conf</c>. An entry without counters is not counted (known good); one with LEFT = 0 is "bad".
/// </summary>
public sealed partial record BootEntryName(string Id, int? TriesLeft, int? TriesDone)
{
    public bool IsCounted => TriesLeft is not null;

    /// <summary>Tries spent: systemd-boot sorts it after every good entry, but still boots it when nothing else is left.</summary>
    public bool IsBad => TriesLeft == 0;

    public string FileName => TriesLeft switch
    {
        null => Id + ".conf",
        { } left when TriesDone is { } done => string.Create(CultureInfo.InvariantCulture, $"{Id}+{left}-{done}.conf"),
        { } left => string.Create(CultureInfo.InvariantCulture, $"{Id}+{left}.conf"),
    };

    /// <summary>The name systemd-boot gives the entry when it boots it: one try fewer, one more done.</summary>
    public BootEntryName AfterBootAttempt() => TriesLeft is > 0 ? this with { TriesLeft = TriesLeft - 1, TriesDone = (TriesDone ?? 0) + 1 } : this;

    /// <summary>Parses a file name; null for anything that is not a <c>.conf</c> entry.</summary>
    public static BootEntryName? Parse(string fileName)
    {
        var match = Pattern().Match(fileName);
        if (!match.Success) return null;
        int? Number(Group g) => g.Success && int.TryParse(g.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
        var left = Number(match.Groups["left"]);
        if (match.Groups["left"].Success && left is null) return null;
        return new BootEntryName(match.Groups["id"].Value, left, left is null ? null : Number(match.Groups["done"]));
    }

    // Counters are decimal; systemd-boot only treats the last "+N[-M]" before ".conf" as counters.
    [GeneratedRegex(@"^(?<id>[^/]+?)(\+(?<left>\d{1,4})(-(?<done>\d{1,4}))?)?\.conf$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex Pattern();
}
