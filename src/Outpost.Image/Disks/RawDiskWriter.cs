using Outpost.Disk.Gpt;

namespace Outpost.Image.Disks;

/// <summary>Writes a raw GPT disk image: partition contents at their offsets, the rest sparse zeros, then the GPT.</summary>
public static class RawDiskWriter
{
    public static async Task<GptLayout> WriteAsync(string path, IReadOnlyList<PartitionContent> parts, CancellationToken cancellationToken)
    {
        var layout = PartitionPlan.Layout(parts.Select(p => p.Spec).ToList());
        var temp = path + ".partial";
        await using (var disk = new FileStream(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20, useAsync: true))
        {
            disk.SetLength(layout.DiskSizeBytes);
            foreach (var part in parts)
            {
                if (part.ContentPath is null) continue;
                var partition = layout.Find(part.Spec.Number)!;
                await using var content = new FileStream(part.ContentPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
                if (content.Length > partition.ByteLength)
                    throw new ImageBuildException($"{Path.GetFileName(part.ContentPath)} ({content.Length} bytes) does not fit partition {part.Spec.Name} ({partition.ByteLength} bytes). Raise its size in the build options.");
                disk.Position = partition.ByteOffset;
                await content.CopyToAsync(disk, 1 << 20, cancellationToken);
            }
            GptWriter.Write(disk, layout);
        }
        File.Move(temp, path, overwrite: true);
        return layout;
    }
}
