using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Outpost.Oci.Errors;

namespace Outpost.Oci.Content;

/// <summary>JSON (de)serialization of OCI documents with the settings the formats expect.</summary>
public static class OciJson
{
    /// <summary>Options: omit nulls, keep property names as declared.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Source-generated metadata: the device agent is published Native AOT, where reflection-based
        // serialization is not available.
        TypeInfoResolver = OciJsonContext.Default,
    };

    /// <summary>Serializes an OCI document (index, manifest, image config) to UTF-8 bytes.</summary>
    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, TypeInfo<T>());

    private static JsonTypeInfo<T> TypeInfo<T>() =>
        Options.GetTypeInfo(typeof(T)) as JsonTypeInfo<T>
        ?? throw new NotSupportedException($"{typeof(T).Name} is not an OCI document type known to {nameof(OciJsonContext)}");

    /// <summary>Parses a document; malformed JSON becomes an <see cref="UnsupportedContentException"/> naming <paramref name="what"/>.</summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> json, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(json, TypeInfo<T>()) ?? throw new JsonException("document is null");
        }
        catch (JsonException e)
        {
            throw new UnsupportedContentException($"{what} is not a valid {typeof(T).Name}: {e.Message}");
        }
    }

    /// <summary>Reads the <c>mediaType</c> field of a manifest or index, if present.</summary>
    public static string? PeekMediaType(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                return null;
            if (doc.RootElement.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String)
                return mt.GetString();
            // An index without mediaType is recognised by its "manifests" array.
            if (doc.RootElement.TryGetProperty("manifests", out _))
                return MediaTypes.OciIndex;
            if (doc.RootElement.TryGetProperty("layers", out _))
                return MediaTypes.OciManifest;
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Compile-time JSON metadata for the OCI documents Outpost reads and writes.</summary>
[JsonSerializable(typeof(ImageIndex))]
[JsonSerializable(typeof(ImageManifest))]
[JsonSerializable(typeof(ImageConfig))]
internal sealed partial class OciJsonContext : JsonSerializerContext;
