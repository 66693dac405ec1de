using System.Reflection;
using Outpost.Image.Spec;

namespace Outpost.Image.Rootfs;

/// <summary>
/// Applies linuxkit's precedence: the YAML entry wins over the image's <c>org.mobyproject.config</c>
/// label, which wins over the image config. The label is JSON, which is YAML, so it goes through
/// the same parser and gets the same checks.
/// </summary>
internal static class ContainerSpecMerger
{
    public const string LabelName = "org.mobyproject.config";

    private static readonly PropertyInfo[] Overridable = typeof(ContainerSpec).GetProperties()
        .Where(p => p.Name is not (nameof(ContainerSpec.Name) or nameof(ContainerSpec.Image) or nameof(ContainerSpec.Location)))
        .ToArray();

    public static ContainerSpec WithLabelDefaults(ContainerSpec yaml, IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is null || !labels.TryGetValue(LabelName, out var json)) return yaml;
        var fromLabel = ParseLabel(json, yaml);
        var merged = yaml with { };
        foreach (var property in Overridable)
        {
            if (property.GetValue(merged) is null)
                property.SetValue(merged, property.GetValue(fromLabel));
        }
        return merged;
    }

    private static ContainerSpec ParseLabel(string json, ContainerSpec yaml)
    {
        try
        {
            // JSON is YAML flow syntax: wrap the label as the single service of a tiny document.
            var label = System.Text.Json.Nodes.JsonNode.Parse(json) as System.Text.Json.Nodes.JsonObject
                ?? throw new ImageBuildException("the label is not a JSON object");
            label["name"] = yaml.Name;
            label["image"] = yaml.Image.Reference;
            return SpecParser.Parse("services: [" + label.ToJsonString() + "]", $"{yaml.Image.Reference} label {LabelName}").Services[0];
        }
        catch (Exception e) when (e is SpecException or System.Text.Json.JsonException or ImageBuildException)
        {
            throw new ImageBuildException($"image '{yaml.Image.Reference}' (used by '{yaml.Name}' at {yaml.Location}) has an invalid {LabelName} label: {e.Message}");
        }
    }
}
