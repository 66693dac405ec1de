namespace Outpost.Image.Sources;

/// <summary>
/// The <c>oci:PATH[:TAG]</c> form naming an image in a local OCI layout directory. A colon after the
/// last slash separates the tag; relative paths are relative to the YAML file's directory.
/// </summary>
public sealed record LocalLayoutReference(string LayoutPath, string Tag)
{
    public const string Prefix = "oci:";

    public static bool IsLocal(string reference) => reference.StartsWith(Prefix, StringComparison.Ordinal);

    public static LocalLayoutReference Parse(string reference, string baseDirectory)
    {
        var body = reference[Prefix.Length..];
        var lastSlash = body.LastIndexOf('/');
        var colon = body.IndexOf(':', lastSlash + 1);
        var path = colon < 0 ? body : body[..colon];
        var tag = colon < 0 ? "latest" : body[(colon + 1)..];
        if (path.Length == 0)
            throw new ImageBuildException($"image reference '{reference}' has no path; write it as oci:PATH[:TAG], e.g. oci:images/kernel:6.1");
        return new LocalLayoutReference(Path.GetFullPath(path, baseDirectory), tag);
    }
}
