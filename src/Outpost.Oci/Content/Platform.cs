using System.Text.Json.Serialization;

namespace Outpost.Oci.Content;

/// <summary>An image platform such as <c>linux/amd64</c> or <c>linux/arm/v7</c>.</summary>
public sealed record Platform
{
    /// <summary>The default platform pulls select.</summary>
    public static Platform LinuxAmd64 { get; } = new() { Os = "linux", Architecture = "amd64" };

    [JsonPropertyName("architecture")] public required string Architecture { get; init; }
    [JsonPropertyName("os")] public required string Os { get; init; }
    [JsonPropertyName("os.version")] public string? OsVersion { get; init; }
    [JsonPropertyName("variant")] public string? Variant { get; init; }

    /// <summary>Parses <c>os/arch[/variant]</c>.</summary>
    public static Platform Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException($"Platform '{text}' must look like os/arch or os/arch/variant, e.g. linux/arm64/v8.", nameof(text));
        return new Platform { Os = parts[0], Architecture = parts[1], Variant = parts.Length == 3 ? parts[2] : null };
    }

    /// <summary>
    /// Whether an offered platform satisfies this requested one. A request without variant accepts any
    /// variant; arm64 without variant means v8, as registries publish it either way.
    /// </summary>
    public bool IsSatisfiedBy(Platform offered)
    {
        if (!string.Equals(Os, offered.Os, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(Architecture, offered.Architecture, StringComparison.OrdinalIgnoreCase))
            return false;
        return Variant is null
            || string.Equals(NormalizedVariant(this), NormalizedVariant(offered), StringComparison.OrdinalIgnoreCase);
    }

    private static string? NormalizedVariant(Platform p) =>
        p.Variant ?? (p.Architecture == "arm64" ? "v8" : null);

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}
