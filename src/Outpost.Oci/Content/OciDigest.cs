using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Outpost.Oci.Errors;

namespace Outpost.Oci.Content;

/// <summary>A content digest such as <c>sha256:9f86…</c>. Only sha256 can be computed; sha512 digests parse so they can be reported.</summary>
[JsonConverter(typeof(OciDigestJsonConverter))]
public readonly record struct OciDigest
{
    private OciDigest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    /// <summary>The algorithm name, e.g. <c>sha256</c>.</summary>
    public string Algorithm { get; }

    /// <summary>The lowercase hex encoding of the hash.</summary>
    public string Hex { get; }

    /// <summary>Parses <c>algorithm:hex</c>; throws <see cref="OciException"/> when malformed.</summary>
    public static OciDigest Parse(string value) =>
        TryParse(value, out var digest) ? digest : throw new OciException($"'{value}' is not a valid digest; expected sha256:<64 lowercase hex digits>.");

    /// <summary>Parses <c>algorithm:hex</c> without throwing.</summary>
    public static bool TryParse(string? value, out OciDigest digest)
    {
        digest = default;
        if (value is null)
            return false;
        var colon = value.IndexOf(':');
        if (colon <= 0)
            return false;
        var algorithm = value[..colon];
        var hex = value[(colon + 1)..];
        var expectedLength = algorithm switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (expectedLength < 0 || hex.Length != expectedLength || !hex.All(IsLowerHex))
            return false;
        digest = new OciDigest(algorithm, hex);
        return true;
    }

    /// <summary>Wraps a raw SHA-256 hash.</summary>
    public static OciDigest FromSha256(ReadOnlySpan<byte> hash) => new("sha256", Convert.ToHexStringLower(hash));

    /// <summary>The SHA-256 digest of <paramref name="content"/>.</summary>
    public static OciDigest Compute(ReadOnlySpan<byte> content) => FromSha256(SHA256.HashData(content));

    /// <summary>The SHA-256 digest of a stream, read to its end.</summary>
    public static async Task<OciDigest> ComputeAsync(Stream content, CancellationToken cancellationToken = default) =>
        FromSha256(await SHA256.HashDataAsync(content, cancellationToken));

    /// <summary>Throws unless this is a sha256 digest (the only algorithm this library verifies).</summary>
    internal void EnsureSha256()
    {
        if (Algorithm != "sha256")
            throw new UnsupportedContentException($"Digest {this} uses {Algorithm}; only sha256 content can be verified.");
    }

    public override string ToString() => Algorithm is null ? "" : $"{Algorithm}:{Hex}";

    private static bool IsLowerHex(char c) => c is >= '0' and <= '9' or >= 'a' and <= 'f';
}

internal sealed class OciDigestJsonConverter : JsonConverter<OciDigest>
{
    public override OciDigest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString();
        return OciDigest.TryParse(text, out var digest) ? digest : throw new JsonException($"'{text}' is not a valid digest.");
    }

    public override void Write(Utf8JsonWriter writer, OciDigest value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}
