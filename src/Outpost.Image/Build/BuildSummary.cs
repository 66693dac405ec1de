using Outpost.Image.Rootfs;

namespace Outpost.Image.Build;

public sealed record BuildArtifact(string Name, string Path, long SizeBytes, string Sha256);

public sealed record StepDuration(string Step, TimeSpan Duration);

/// <summary>What a build produced and how long each step took.</summary>
public sealed record BuildSummary(
    IReadOnlyList<BuildArtifact> Artifacts,
    IReadOnlyList<StepDuration> Steps,
    IReadOnlyList<UsedImage> Images,
    TimeSpan Total)
{
    public BuildArtifact Get(string name) => Artifacts.Single(a => a.Name == name);
}
