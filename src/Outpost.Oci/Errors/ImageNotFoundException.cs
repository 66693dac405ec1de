namespace Outpost.Oci.Errors;

/// <summary>A local OCI layout has no image under the requested name.</summary>
public sealed class ImageNotFoundException(string layoutPath, string name, IReadOnlyList<string> available)
    : OciException($"OCI layout {layoutPath} has no image named '{name}'. Names present: {(available.Count == 0 ? "(none)" : string.Join(", ", available))}.")
{
    public string Name { get; } = name;
}
