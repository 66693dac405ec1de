namespace Outpost.Disk.Qcow2;

/// <summary>A qcow2 image is invalid or uses a feature this reader does not support (backing files, encryption, compression).</summary>
public sealed class Qcow2FormatException(string message) : Exception(message);
