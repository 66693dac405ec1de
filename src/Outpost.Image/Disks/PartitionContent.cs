using Outpost.Disk.Gpt;

namespace Outpost.Image.Disks;

/// <summary>What goes into one partition: its GPT entry and size, and a file to copy in (or nothing: zeros).</summary>
public sealed record PartitionContent(PartitionSpec Spec, string? ContentPath);
