using System.Text.Json.Serialization;

namespace Outpost.Oci.Content;

/// <summary>An OCI content descriptor: what a blob is, its digest and size.</summary>
public sealed record Descriptor
{
    /// <summary>The annotation naming an <c>index.json</c> entry (usually the tag).</summary>
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    [JsonPropertyName("mediaType")] public required string MediaType { get; init; }
    [JsonPropertyName("digest")] public required OciDigest Digest { get; init; }
    [JsonPropertyName("size")] public required long Size { get; init; }
    [JsonPropertyName("platform")] public Platform? Platform { get; init; }
    [JsonPropertyName("annotations")] public IReadOnlyDictionary<string, string>? Annotations { get; init; }
    [JsonPropertyName("urls")] public IReadOnlyList<string>? Urls { get; init; }

    /// <summary>The <see cref="RefNameAnnotation"/> value, if any.</summary>
    [JsonIgnore]
    public string? RefName => Annotations is not null && Annotations.TryGetValue(RefNameAnnotation, out var name) ? name : null;

    /// <summary>Describes <paramref name="content"/> with its computed digest and length.</summary>
    public static Descriptor For(string mediaType, ReadOnlySpan<byte> content) =>
        new() { MediaType = mediaType, Digest = OciDigest.Compute(content), Size = content.Length };
}
