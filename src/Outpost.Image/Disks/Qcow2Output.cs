using Outpost.Disk.Qcow2;

namespace Outpost.Image.Disks;

/// <summary>Converts live.raw to live.qcow2 with Outpost.Disk's qcow2 writer (all-zero clusters stay unallocated).</summary>
internal static class Qcow2Output
{
    public static async Task ConvertAsync(string rawPath, string qcow2Path, CancellationToken cancellationToken)
    {
        await using var raw = new FileStream(rawPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        await using var output = new FileStream(qcow2Path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20, useAsync: true);
        await Qcow2Writer.WriteAsync(raw, output, cancellationToken);
    }
}
