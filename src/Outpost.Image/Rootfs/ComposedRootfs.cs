namespace Outpost.Image.Rootfs;

/// <summary>The composed rootfs tree and the images it was made from.</summary>
public sealed record ComposedRootfs(FsTree Tree, IReadOnlyList<UsedImage> Images);
