using System.Formats.Tar;
using System.IO.Compression;
using Outpost.Oci.Content;
using Outpost.Oci.Layout;

namespace Outpost.Bench.Pull;

/// <summary>
/// A multi-layer image of realistic make-up: each layer holds many files of half-compressible data (like binaries and
/// text), so decompression, hashing and file creation all show up in the figures, not just the network.
/// </summary>
internal static class BenchImage
{
    public static async Task<long> WriteAsync(string layoutPath, string tag, int layers, int bytesPerLayer, CancellationToken ct)
    {
        var layout = await OciLayout.CreateAsync(layoutPath, ct);
        var random = new Random(42);
        var blobs = new List<Descriptor>();
        var diffIds = new List<OciDigest>();
        for (var i = 0; i < layers; i++)
        {
            using var tar = new MemoryStream();
            using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, $"layer{i}/") { Mode = (UnixFileMode)0b111_101_101 });
                const int fileSize = 64 * 1024;
                for (var f = 0; f < bytesPerLayer / fileSize; f++)
                {
                    var data = new byte[fileSize];
                    random.NextBytes(data.AsSpan(0, fileSize / 2));
                    writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"layer{i}/file{f:D5}.bin")
                    {
                        Mode = (UnixFileMode)0b110_100_100,
                        ModificationTime = DateTimeOffset.UnixEpoch,
                        DataStream = new MemoryStream(data),
                    });
                }
            }

            var uncompressed = tar.ToArray();
            using var gz = new MemoryStream();
            using (var zip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
            {
                zip.Write(uncompressed);
            }

            blobs.Add(await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, gz.ToArray(), ct));
            diffIds.Add(OciDigest.Compute(uncompressed));
        }

        var config = await layout.WriteBlobAsync(MediaTypes.OciConfig, OciJson.Serialize(new ImageConfig
        {
            Architecture = "amd64",
            Os = "linux",
            RootFs = new RootFs { DiffIds = diffIds },
        }), ct);
        var manifest = await layout.WriteBlobAsync(MediaTypes.OciManifest, OciJson.Serialize(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = config,
            Layers = blobs,
        }), ct);
        await layout.TagAsync(tag, manifest, ct);
        return blobs.Sum(b => b.Size) + config.Size;
    }
}
