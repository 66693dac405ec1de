namespace Outpost.Image.Build;

/// <summary>A progress report: the step running and a human-readable detail.</summary>
public sealed record BuildProgress(string Step, string Detail);
