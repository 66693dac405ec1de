using System.Security.Cryptography;
using Outpost.Disk.Gpt;
using Outpost.Image.Disks;

namespace Outpost.Cli.Lab;

/// <summary>
/// A lab device's disk: a sparse copy of the image (which is never modified), grown to <see cref="SizeBytes"/> with
/// the backup GPT moved to the new end as on a real disk, and its CONFIG partition holding the device's own config
/// folder, so one image build serves every device.
/// </summary>
internal static class LabDisk
{
    /// <summary>Room for the device to grow into; sparse, so it costs only what the guest writes.</summary>
    public const long SizeBytes = 8L << 30;

    private const int ChunkBytes = 1 << 20;

    public static async Task CreateAsync(string imagePath, string diskPath, CancellationToken ct)
    {
        var temp = diskPath + ".partial";
        await using (var source = new FileStream(imagePath, FileMode.Open, FileAccess.Read, FileShare.Read, ChunkBytes, useAsync: true))
        await using (var target = new FileStream(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, ChunkBytes, useAsync: true))
        {
            var buffer = new byte[ChunkBytes];
            int read;
            while ((read = await source.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct)) > 0)
            {
                // All-zero chunks are skipped, not written: they stay holes in the copy.
                if (buffer.AsSpan(0, read).ContainsAnyExcept((byte)0))
                {
                    await target.WriteAsync(buffer.AsMemory(0, read), ct);
                }
                else
                {
                    target.Seek(read, SeekOrigin.Current);
                }
            }

            target.SetLength(Math.Max(source.Length, SizeBytes));
            GptDisk.RelocateBackupToEnd(target);
        }

        File.Move(temp, diskPath, overwrite: true);
    }

    /// <summary>Replaces the CONFIG partition with the folder (see <see cref="ConfigPartitionWriter"/>).</summary>
    public static Task WriteConfigAsync(string diskPath, string configDirectory, CancellationToken ct) =>
        ConfigPartitionWriter.WriteAsync(diskPath, configDirectory, DateTime.UtcNow, ct);

    /// <summary>SHA-256 over the folder's file names and contents, to tell whether CONFIG must be written again.</summary>
    public static string HashFolder(string configDirectory)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in Directory.EnumerateFiles(configDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetRelativePath(configDirectory, file) + "\0"));
            hash.AppendData(File.ReadAllBytes(file));
            hash.AppendData("\0"u8);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
