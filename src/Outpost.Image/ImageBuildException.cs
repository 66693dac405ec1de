namespace Outpost.Image;

/// <summary>
/// A problem the user can fix (bad YAML, missing image, unsupported option).
/// The message always says what happened and what to do; the CLI prints it without a stack trace.
/// </summary>
public class ImageBuildException : Exception
{
    public ImageBuildException(string message) : base(message) { }
    public ImageBuildException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>An image reference that could not be found or read.</summary>
public sealed class MissingImageException(string reference, string detail)
    : ImageBuildException($"image '{reference}' could not be found: {detail}. Check the reference, or create the local layout (see examples/make-inputs.sh).")
{
    public string Reference { get; } = reference;
    public string Detail { get; } = detail;
}

/// <summary>An option or architecture this builder does not handle yet.</summary>
public sealed class NotSupportedYetException(string message) : ImageBuildException(message);
