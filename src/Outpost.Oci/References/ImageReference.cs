using System.Text.RegularExpressions;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;

namespace Outpost.Oci.References;

/// <summary>
/// A normalized image reference, following Docker's rules: <c>busybox</c> is
/// <c>docker.io/library/busybox:latest</c>, <c>user/x</c> is <c>docker.io/user/x:latest</c>, and the first
/// path component is a registry only when it contains a dot or a colon or is <c>localhost</c>.
/// </summary>
public sealed partial record ImageReference
{
    /// <summary>The registry name Docker Hub images normalize to.</summary>
    public const string DockerHub = "docker.io";

    private const int MaxNameLength = 255;

    private ImageReference(string registry, string repository, string? tag, OciDigest? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The registry host with optional port, e.g. <c>docker.io</c> or <c>127.0.0.1:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>The repository path inside the registry, e.g. <c>library/busybox</c>.</summary>
    public string Repository { get; }

    /// <summary>The tag; <c>latest</c> when neither tag nor digest was given, null for digest-only references.</summary>
    public string? Tag { get; }

    /// <summary>The pinned manifest digest, if any. It wins over the tag when pulling.</summary>
    public OciDigest? Digest { get; }

    /// <summary>The value for <c>/v2/&lt;repo&gt;/manifests/&lt;reference&gt;</c>: the digest if present, else the tag.</summary>
    public string ManifestReference => Digest?.ToString() ?? Tag!;

    /// <summary><c>registry/repository</c>, without tag or digest.</summary>
    public string Name => $"{Registry}/{Repository}";

    /// <summary>Parses and normalizes a reference; throws <see cref="InvalidImageReferenceException"/>.</summary>
    public static ImageReference Parse(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (reference.Length == 0)
            throw new InvalidImageReferenceException(reference, "it is empty");
        if (reference != reference.Trim())
            throw new InvalidImageReferenceException(reference, "it has leading or trailing whitespace");

        var remainder = reference;
        OciDigest? digest = null;
        var at = remainder.IndexOf('@');
        if (at >= 0)
        {
            var digestText = remainder[(at + 1)..];
            if (!OciDigest.TryParse(digestText, out var parsed))
                throw new InvalidImageReferenceException(reference, $"'{digestText}' is not a digest (sha256:<64 lowercase hex>)");
            digest = parsed;
            remainder = remainder[..at];
        }

        string? tag = null;
        var lastColon = remainder.LastIndexOf(':');
        if (lastColon > remainder.LastIndexOf('/'))
        {
            tag = remainder[(lastColon + 1)..];
            remainder = remainder[..lastColon];
            if (!TagPattern().IsMatch(tag))
                throw new InvalidImageReferenceException(reference, $"tag '{tag}' must be 1-128 characters of letters, digits, '_', '.', '-' and not start with '.' or '-'");
        }

        var (registry, repository) = SplitRegistry(remainder);
        if (registry == "index.docker.io")
            registry = DockerHub;
        if (registry == DockerHub && !repository.Contains('/'))
            repository = "library/" + repository;

        if (repository.Length == 0)
            throw new InvalidImageReferenceException(reference, "the repository name is missing");
        if (repository.Any(char.IsUpper))
            throw new InvalidImageReferenceException(reference, "repository names must be lowercase");
        foreach (var component in repository.Split('/'))
        {
            if (!PathComponentPattern().IsMatch(component))
                throw new InvalidImageReferenceException(reference, $"path component '{component}' must be lowercase letters and digits separated by '.', '_', '__' or '-'");
        }
        if (!HostPattern().IsMatch(registry))
            throw new InvalidImageReferenceException(reference, $"registry '{registry}' is not a valid host[:port]");
        if (registry.Length + 1 + repository.Length > MaxNameLength)
            throw new InvalidImageReferenceException(reference, $"the name is longer than {MaxNameLength} characters");

        if (tag is null && digest is null)
            tag = "latest";
        return new ImageReference(registry, repository, tag, digest);
    }

    /// <summary>Parses without throwing.</summary>
    public static bool TryParse(string reference, out ImageReference? result)
    {
        try
        {
            result = Parse(reference);
            return true;
        }
        catch (InvalidImageReferenceException)
        {
            result = null;
            return false;
        }
    }

    /// <summary>The same repository pinned to <paramref name="digest"/> (the tag is kept).</summary>
    public ImageReference WithDigest(OciDigest digest) => new(Registry, Repository, Tag, digest);

    /// <summary>The same repository at <paramref name="tag"/>, without digest.</summary>
    public ImageReference WithTag(string tag) => Parse($"{Name}:{tag}");

    /// <summary>The canonical form: <c>registry/repository[:tag][@digest]</c>.</summary>
    public override string ToString()
    {
        var text = Name;
        if (Tag is not null)
            text += ":" + Tag;
        if (Digest is { } d)
            text += "@" + d;
        return text;
    }

    private static (string Registry, string Repository) SplitRegistry(string name)
    {
        var slash = name.IndexOf('/');
        if (slash < 0)
            return (DockerHub, name);
        var first = name[..slash];
        var isRegistry = first.Contains('.') || first.Contains(':') || first == "localhost" || first.Any(char.IsUpper);
        return isRegistry ? (first, name[(slash + 1)..]) : (DockerHub, name);
    }

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")]
    private static partial Regex PathComponentPattern();

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?$")]
    private static partial Regex HostPattern();
}
