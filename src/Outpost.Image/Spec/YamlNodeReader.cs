using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace Outpost.Image.Spec;

/// <summary>
/// Typed access to YAML nodes that records an error (with line:column) instead of throwing,
/// so one parse reports every problem in the file.
/// </summary>
internal sealed class YamlNodeReader(string file)
{
    private readonly List<SpecError> _errors = [];

    public IReadOnlyList<SpecError> Errors => _errors;

    public SpecLocation At(YamlNode node) => new(file, (int)node.Start.Line, (int)node.Start.Column);

    public void Error(YamlNode node, string message) =>
        _errors.Add(new SpecError(file, (int)node.Start.Line, (int)node.Start.Column, message));

    public YamlMappingNode? Mapping(YamlNode node, string what)
    {
        if (node is YamlMappingNode mapping) return mapping;
        Error(node, $"{what} must be a mapping (key: value)");
        return null;
    }

    /// <summary>Reports keys outside <paramref name="known"/>, suggesting the nearest known key.</summary>
    public void CheckKeys(YamlMappingNode mapping, IReadOnlyCollection<string> known, string where)
    {
        foreach (var key in mapping.Children.Keys)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            if (known.Contains(name)) continue;
            var suggestion = KeySuggester.Suggest(name, known);
            Error(key, suggestion is null
                ? $"unknown key '{name}' in {where}; allowed keys: {string.Join(", ", known)}"
                : $"unknown key '{name}' in {where}; did you mean '{suggestion}'?");
        }
    }

    public static YamlNode? Get(YamlMappingNode mapping, string key) =>
        mapping.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    public string? String(YamlMappingNode mapping, string key, string where)
    {
        var node = Get(mapping, key);
        if (node is null) return null;
        if (node is YamlScalarNode scalar) return scalar.Value ?? "";
        Error(node, $"'{key}' in {where} must be a string");
        return null;
    }

    public string? RequiredString(YamlMappingNode mapping, string key, string where)
    {
        var value = String(mapping, key, where);
        if (value is null && Get(mapping, key) is null)
            Error(mapping, $"missing required key '{key}' in {where}");
        else if (value is not null && value.Length == 0)
            Error(Get(mapping, key)!, $"'{key}' in {where} must not be empty");
        return string.IsNullOrEmpty(value) ? null : value;
    }

    public bool? Bool(YamlMappingNode mapping, string key, string where)
    {
        var node = Get(mapping, key);
        if (node is null) return null;
        if (node is YamlScalarNode { Value: var v } && bool.TryParse(v, out var b)) return b;
        Error(node, $"'{key}' in {where} must be true or false, not '{Describe(node)}'");
        return null;
    }

    public int? Int(YamlMappingNode mapping, string key, string where)
    {
        var node = Get(mapping, key);
        if (node is null) return null;
        if (node is YamlScalarNode { Value: var v } && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)) return i;
        Error(node, $"'{key}' in {where} must be an integer, not '{Describe(node)}'");
        return null;
    }

    /// <summary>A uid/gid: a number, or the name of another container (linuxkit resolves names to ids).</summary>
    public string? IdOrName(YamlMappingNode mapping, string key, string where)
    {
        var node = Get(mapping, key);
        if (node is null) return null;
        if (node is YamlScalarNode { Value: { Length: > 0 } v }) return v;
        Error(node, $"'{key}' in {where} must be a number or a container name");
        return null;
    }

    public IReadOnlyList<string>? StringList(YamlMappingNode mapping, string key, string where)
    {
        var node = Get(mapping, key);
        return node is null ? null : StringList(node, $"'{key}' in {where}");
    }

    public IReadOnlyList<string>? StringList(YamlNode node, string what)
    {
        if (node is not YamlSequenceNode sequence)
        {
            Error(node, $"{what} must be a list of strings");
            return null;
        }
        var items = new List<string>();
        foreach (var item in sequence)
        {
            if (item is YamlScalarNode scalar) items.Add(scalar.Value ?? "");
            else Error(item, $"every item of {what} must be a string");
        }
        return items;
    }

    public JsonArray? JsonList(YamlMappingNode mapping, string key, string where)
    {
        var node = Get(mapping, key);
        if (node is null) return null;
        if (node is YamlSequenceNode) return (JsonArray)ToJson(node)!;
        Error(node, $"'{key}' in {where} must be a list");
        return null;
    }

    public JsonObject? JsonMap(YamlMappingNode mapping, string key, string where)
    {
        var node = Get(mapping, key);
        if (node is null) return null;
        if (node is YamlMappingNode) return (JsonObject)ToJson(node)!;
        Error(node, $"'{key}' in {where} must be a mapping");
        return null;
    }

    /// <summary>
    /// Converts YAML to JSON for pass-through OCI structures. Plain scalars that look like numbers or
    /// booleans become JSON numbers/booleans (the OCI spec wants them typed); quoted scalars stay strings.
    /// </summary>
    public static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", ToJson(kv.Value)))),
        YamlSequenceNode s => new JsonArray(s.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: var v } when long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: var v } when bool.TryParse(v, out var b) => JsonValue.Create(b),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: null or "~" or "null" } => null,
        YamlScalarNode s => JsonValue.Create(s.Value ?? ""),
        _ => null,
    };

    private static string Describe(YamlNode node) => node is YamlScalarNode s ? s.Value ?? "" : node.NodeType.ToString().ToLowerInvariant();
}
