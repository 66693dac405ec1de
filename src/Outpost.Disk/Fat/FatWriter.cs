using System.Text;

namespace Outpost.Disk.Fat;

/// <summary>
/// Writes a complete FAT12/16/32 volume (boot sector, FATs, directories with VFAT long names,
/// file data) from a <see cref="FatDirectory"/> tree. The output is exactly
/// <see cref="FatVolumeOptions.SizeBytes"/> long, written sequentially from the stream's current
/// position, and byte-identical for identical inputs.
/// </summary>
public static class FatWriter
{
    private const int CopyBufferSize = 1 << 20;

    /// <summary>Builds the volume and writes it to <paramref name="output"/>.</summary>
    /// <exception cref="FatLayoutException">The content does not fit, a name or label is invalid, or a file's content length differs from its declared length.</exception>
    public static async Task WriteAsync(Stream output, FatDirectory root, FatVolumeOptions options, CancellationToken cancellationToken = default)
    {
        var geometry = FatGeometry.Choose(options.SizeBytes, options.Type);
        var label = EncodeLabel(options.Label);
        var plan = FatVolumePlan.Create(root, geometry, options, label);
        var sink = new SequentialSink(output, cancellationToken);

        var boot = FatBootSector.Encode(geometry, options, label);
        var reserved = new byte[geometry.ReservedSectors * FatGeometry.SectorSize];
        boot.CopyTo(reserved, 0);
        if (geometry.Type == FatType.Fat32)
        {
            var fsInfo = FatBootSector.EncodeFsInfo(geometry.ClusterCount - plan.UsedClusters, plan.NextFreeCluster);
            fsInfo.CopyTo(reserved, 1 * FatGeometry.SectorSize);
            boot.CopyTo(reserved, 6 * FatGeometry.SectorSize);
            fsInfo.CopyTo(reserved, 7 * FatGeometry.SectorSize);
        }
        await sink.WriteAsync(reserved);
        for (int i = 0; i < FatGeometry.FatCount; i++)
        {
            await sink.WriteAsync(plan.Table.Bytes);
        }
        await sink.WriteAsync(plan.FixedRoot);

        var buffer = new byte[CopyBufferSize];
        foreach (var item in plan.DataItems)
        {
            switch (item)
            {
                case FatVolumePlan.DirectoryItem directory:
                    await sink.WriteAsync(directory.Content);
                    break;
                case FatVolumePlan.FileItem file:
                    await CopyFileAsync(sink, file.File, file.Clusters * geometry.ClusterSize, buffer, cancellationToken);
                    break;
            }
        }
        await sink.ZeroFillAsync(options.SizeBytes - sink.Written);
        await output.FlushAsync(cancellationToken);
    }

    private static async Task CopyFileAsync(SequentialSink sink, FatFile file, long allocatedBytes, byte[] buffer, CancellationToken cancellationToken)
    {
        long copied = 0;
        await using (var content = file.OpenContent())
        {
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                copied += read;
                if (copied > file.Length)
                {
                    break;
                }
                await sink.WriteAsync(buffer.AsMemory(0, read));
            }
        }
        if (copied != file.Length)
        {
            throw new FatLayoutException($"File '{file.Name}' was declared as {file.Length} bytes but its content has {(copied > file.Length ? "more" : copied.ToString())} bytes; declare the real length.");
        }
        await sink.ZeroFillAsync(allocatedBytes - copied);
    }

    private static byte[] EncodeLabel(string label)
    {
        string upper = label.ToUpperInvariant();
        if (upper.Length > 11 || upper.Any(c => c < 0x20 || c > 0x7E || "\"*+,./:;<=>?[\\]|".Contains(c)))
        {
            throw new FatLayoutException($"Volume label '{label}' must be at most 11 printable ASCII characters without \"*+,./:;<=>?[\\]|.");
        }
        return Encoding.ASCII.GetBytes((upper.Length == 0 ? "NO NAME" : upper).PadRight(11));
    }

    /// <summary>Counts what was written and writes runs of zeros cheaply.</summary>
    private sealed class SequentialSink(Stream output, CancellationToken cancellationToken)
    {
        private static readonly byte[] Zeros = new byte[CopyBufferSize];

        public long Written { get; private set; }

        public async Task WriteAsync(ReadOnlyMemory<byte> data)
        {
            await output.WriteAsync(data, cancellationToken);
            Written += data.Length;
        }

        public async Task ZeroFillAsync(long count)
        {
            if (count <= 0)
            {
                return;
            }
            if (output.CanSeek && output.Position == output.Length)
            {
                // Growing a file at its end already reads back as zeros (and stays sparse).
                output.SetLength(output.Position + count);
                output.Position += count;
                Written += count;
                return;
            }
            while (count > 0)
            {
                int chunk = (int)Math.Min(count, Zeros.Length);
                await WriteAsync(Zeros.AsMemory(0, chunk));
                count -= chunk;
            }
        }
    }
}
