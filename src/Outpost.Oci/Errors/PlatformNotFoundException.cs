namespace Outpost.Oci.Errors;

/// <summary>An image index has no manifest for the requested platform.</summary>
public sealed class PlatformNotFoundException(string image, string requested, IReadOnlyList<string> available)
    : OciException($"Image {image} has no variant for platform {requested}. It offers: {(available.Count == 0 ? "(none)" : string.Join(", ", available))}. Pick one of those platforms.")
{
    public string Requested { get; } = requested;
    public IReadOnlyList<string> Available { get; } = available;
}
