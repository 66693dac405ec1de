using System.Text.RegularExpressions;

namespace Outpost.Controller.Registry;

/// <summary>
/// The grammar of repository names and tags from the OCI distribution spec. Checking it before touching the disk
/// is what keeps `..`, `%2e%2e`, absolute paths and other traversal attempts away from the layout.
/// </summary>
internal static partial class RepositoryName
{
    /// <summary>The spec allows 255 characters for the full name including the host; the host is not part of ours.</summary>
    private const int MaxLength = 255;

    public static bool IsValid(string name) => name.Length <= MaxLength && NamePattern().IsMatch(name);

    public static bool IsValidTag(string tag) => TagPattern().IsMatch(tag);

    [GeneratedRegex(@"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")]
    private static partial Regex TagPattern();
}
