namespace Outpost.Image.Spec;

/// <summary>One problem found in an image YAML, pinned to its line and column.</summary>
public sealed record SpecError(string File, int Line, int Column, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Message}";
}

/// <summary>The image YAML is invalid; <see cref="Errors"/> lists every problem found, each with line:column.</summary>
public sealed class SpecException(IReadOnlyList<SpecError> errors)
    : ImageBuildException(string.Join(Environment.NewLine, errors.Select(e => e.ToString())))
{
    public IReadOnlyList<SpecError> Errors { get; } = errors;
}
