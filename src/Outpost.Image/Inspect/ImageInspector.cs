using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Outpost.Disk;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Disk.Qcow2;

namespace Outpost.Image.Inspect;

/// <summary>
/// Describes a built artifact: a GPT disk (raw or qcow2) with its partitions, A/B states, filesystems and
/// digests, or a bare squashfs / FAT / tar file.
/// </summary>
public static class ImageInspector
{
    public static async Task<ImageInspection> InspectAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path)) throw new ImageBuildException($"'{path}' does not exist; pass a file made by 'outpost image build'.");
        var sha = await Sha256Async(path, cancellationToken);
        var size = new FileInfo(path).Length;
        await using var file = File.OpenRead(path);
        var head = new byte[512];
        await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken);

        if (head[0] == (byte)'Q' && head[1] == (byte)'F' && head[2] == (byte)'I' && head[3] == 0xfb)
        {
            var raw = System.IO.Path.GetTempFileName();
            try
            {
                await using (var output = File.Create(raw))
                {
                    file.Position = 0;
                    await Qcow2Reader.ConvertToRawAsync(file, output, cancellationToken);
                }
                await using var rawStream = File.OpenRead(raw);
                var disk = await InspectDiskAsync(rawStream, cancellationToken);
                return new ImageInspection(path, "qcow2", size, sha, disk.Guid, disk.Partitions, null);
            }
            finally
            {
                File.Delete(raw);
            }
        }
        if (size >= 1024 && IsGpt(file))
        {
            var disk = await InspectDiskAsync(file, cancellationToken);
            return new ImageInspection(path, "raw-gpt", size, sha, disk.Guid, disk.Partitions, null);
        }
        if (Encoding.ASCII.GetString(head, 257, 5) == "ustar")
            return new ImageInspection(path, "tar", size, sha, null, [], new FilesystemInspection("tar", null, size, null, null));
        return new ImageInspection(path, "filesystem", size, sha, null, [], DetectFilesystem(file, size)
            ?? throw new ImageBuildException($"'{path}' is not a GPT disk, qcow2, squashfs, FAT or tar file."));
    }

    private static bool IsGpt(Stream disk)
    {
        var header = new byte[8];
        disk.Position = 512;
        disk.ReadExactly(header);
        return header.AsSpan().SequenceEqual("EFI PART"u8);
    }

    private static async Task<(Guid Guid, IReadOnlyList<PartitionInspection> Partitions)> InspectDiskAsync(Stream disk, CancellationToken cancellationToken)
    {
        var layout = GptDisk.Read(disk);
        var partitions = new List<PartitionInspection>();
        foreach (var p in layout.Partitions.OrderBy(p => p.Number))
        {
            var window = new StreamWindow(disk, p.ByteOffset, p.ByteLength);
            var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(window, cancellationToken));
            window.Position = 0;
            var abState = p.TypeGuid == EvePartitions.UsrType ? StateName(p.State) : null;
            partitions.Add(new PartitionInspection(p.Number, p.Name, p.TypeGuid, TypeName(p.TypeGuid), p.UniqueGuid,
                p.ByteOffset, p.ByteLength, p.Attributes, abState, DetectFilesystem(window, p.ByteLength), hash));
        }
        return (layout.DiskGuid, partitions);
    }

    public static string StateName(PartitionState state) => state.EveValue switch
    {
        0x102 => "active",
        0x13 => "updating",
        0x3 => "inprogress",
        0 => "unused",
        var other => $"other(0x{other:x})",
    };

    private static string TypeName(Guid type) =>
        type == EvePartitions.EfiSystemType ? "EFI System" :
        type == EvePartitions.UsrType ? "rootfs (CoreOS usr)" :
        type == EvePartitions.ConfigType ? "EVE config" :
        type == EvePartitions.PersistType ? "EVE persist" :
        type == EvePartitions.MicrosoftBasicDataType ? "Microsoft basic data" : "unknown";

    private static FilesystemInspection? DetectFilesystem(Stream volume, long size)
    {
        if (size < 512) return null;
        var boot = new byte[512];
        volume.Position = 0;
        volume.ReadExactly(boot);
        if (boot.AsSpan(0, 4).SequenceEqual("hsqs"u8))
        {
            var compression = BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(20)) switch
            {
                1 => "gzip",
                2 => "lzma",
                3 => "lzo",
                4 => "xz",
                5 => "lz4",
                6 => "zstd",
                var c => $"unknown({c})",
            };
            return new FilesystemInspection("squashfs", null, (long)BinaryPrimitives.ReadUInt64LittleEndian(boot.AsSpan(40)), compression, null);
        }
        if (boot[510] == 0x55 && boot[511] == 0xAA && (Encoding.ASCII.GetString(boot, 82, 5) == "FAT32" || Encoding.ASCII.GetString(boot, 54, 3) == "FAT"))
        {
            volume.Position = 0;
            var reader = FatVolumeReader.Open(volume);
            var files = reader.ListAll().Where(e => !e.IsDirectory).Select(e => e.Path).ToList();
            return new FilesystemInspection(reader.Type.ToString().ToLowerInvariant(), reader.Label, null, null, files);
        }
        return boot.All(b => b == 0) ? new FilesystemInspection("empty", null, 0, null, null) : new FilesystemInspection("unknown", null, null, null, null);
    }

    private static async Task<string> Sha256Async(string path, CancellationToken cancellationToken)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken));
    }
}
