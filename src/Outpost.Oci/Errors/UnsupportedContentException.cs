namespace Outpost.Oci.Errors;

/// <summary>Content uses a format this library does not handle (zstd layers, unknown media types, broken layouts).</summary>
public sealed class UnsupportedContentException(string message) : OciException(message);
