using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Outpost.Oci.Content;
using Outpost.Oci.Layout;

namespace Outpost.Controller.Tests.Registry;

/// <summary>A small image written straight into an OCI layout: one gzip layer of text files, amd64, tagged name:tag.</summary>
internal static class RegistryTestImage
{
    public static async Task<Descriptor> WriteAsync(string layoutPath, string name, string tag, string marker, int payloadBytes = 200_000)
    {
        var layout = await OciLayout.CreateAsync(layoutPath);
        using var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var payload = new byte[payloadBytes];
            new Random(marker.GetHashCode()).NextBytes(payload);
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "marker.txt") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(marker)) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "payload.bin") { DataStream = new MemoryStream(payload) });
        }

        var uncompressed = tar.ToArray();
        using var gz = new MemoryStream();
        await using (var zip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            await zip.WriteAsync(uncompressed);
        }

        var layer = await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, gz.ToArray());
        var config = await layout.WriteBlobAsync(MediaTypes.OciConfig, OciJson.Serialize(new ImageConfig
        {
            Architecture = "amd64",
            Os = "linux",
            RootFs = new RootFs { DiffIds = [OciDigest.Compute(uncompressed)] },
        }));
        var manifest = await layout.WriteBlobAsync(MediaTypes.OciManifest, OciJson.Serialize(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = config,
            Layers = [layer],
        }));
        await layout.TagAsync($"{name}:{tag}", manifest);
        return manifest;
    }
}
