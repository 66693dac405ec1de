namespace Outpost.Image.Sbom;

/// <summary>A package a distribution database says is installed; <see cref="FoundIn"/> is the database's path in the rootfs.</summary>
public sealed record InstalledPackage(string Name, string Version, string? Architecture, string Manager, string FoundIn);
