namespace Outpost.Oci.Errors;

/// <summary>A layer entry tried something unsafe (escape the root, forbidden file type); extraction stopped.</summary>
public sealed class LayerSecurityException(string entryName, string reason)
    : OciException($"Layer entry '{entryName}' rejected: {reason}. The layer is malformed or malicious; do not use this image.")
{
    public string EntryName { get; } = entryName;
}
