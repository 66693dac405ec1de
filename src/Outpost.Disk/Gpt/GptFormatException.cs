namespace Outpost.Disk.Gpt;

/// <summary>
/// The GPT on a disk is missing or damaged, or a layout given to the writer is invalid
/// (overlapping partitions, bad numbers, names too long, disk too small).
/// </summary>
public sealed class GptFormatException(string message) : Exception(message);
