using System.IO.Compression;
using Outpost.Image.Rootfs;
using Outpost.Image.Tar;
using Outpost.Oci.Content;
using Outpost.Oci.Layout;

namespace Outpost.Image.Layouts;

/// <summary>
/// Packs a list of files (from memory or the host) into a single-layer image in a local OCI layout,
/// deterministically: fixed mtimes, uid/gid 0 unless told, sorted entries, no creation date. It makes the
/// offline example inputs (kernel, init, service images) and the images tests compose.
/// </summary>
public sealed class OciLayoutBuilder
{
    private readonly FsTree _tree;
    private readonly long _mtime;

    /// <param name="mtime">Modification time of every entry (seconds since the epoch); 0 by default.</param>
    public OciLayoutBuilder(long mtime = 0)
    {
        _mtime = mtime;
        _tree = new FsTree(mtime);
    }

    public IReadOnlyList<string>? Entrypoint { get; set; }
    public IReadOnlyList<string>? Cmd { get; set; }
    public IReadOnlyList<string>? Env { get; set; }
    public string? WorkingDir { get; set; }
    public Dictionary<string, string> Labels { get; } = new(StringComparer.Ordinal);
    public string Architecture { get; set; } = "amd64";

    public OciLayoutBuilder AddFile(string path, ReadOnlyMemory<byte> content, int mode = 0b110_100_100, int uid = 0, int gid = 0)
    {
        _tree.Set(path, FsEntry.File(content, _mtime, mode) with { Uid = uid, Gid = gid });
        return this;
    }

    public OciLayoutBuilder AddFile(string path, string text, int mode = 0b110_100_100) =>
        AddFile(path, System.Text.Encoding.UTF8.GetBytes(text), mode);

    /// <summary>Adds a host file; its permission bits are kept unless <paramref name="mode"/> is given.</summary>
    public OciLayoutBuilder AddHostFile(string path, string hostPath, int? mode = null)
    {
        if (!File.Exists(hostPath))
            throw new ImageBuildException($"cannot pack '{hostPath}' into an image: the file does not exist. Install the package that provides it.");
        var hostMode = OperatingSystem.IsWindows() ? 0b110_100_100 : (int)File.GetUnixFileMode(hostPath);
        return AddFile(path, File.ReadAllBytes(hostPath), mode ?? hostMode);
    }

    /// <summary>Adds a host directory recursively (files, directories, symlinks) under <paramref name="prefix"/>.</summary>
    public OciLayoutBuilder AddHostDirectory(string prefix, string hostDirectory)
    {
        if (!Directory.Exists(hostDirectory))
            throw new ImageBuildException($"cannot pack '{hostDirectory}' into an image: the directory does not exist.");
        foreach (var path in Directory.EnumerateFileSystemEntries(hostDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.Combine(prefix, Path.GetRelativePath(hostDirectory, path));
            var info = new FileInfo(path);
            if (info.LinkTarget is { } target) AddSymlink(relative, target);
            else if (Directory.Exists(path)) AddDirectory(relative, (int)File.GetUnixFileMode(path));
            else AddHostFile(relative, path);
        }
        return this;
    }

    public OciLayoutBuilder AddDirectory(string path, int mode = 0b111_101_101)
    {
        _tree.Set(path, FsEntry.Directory(_mtime, mode));
        return this;
    }

    public OciLayoutBuilder AddSymlink(string path, string target)
    {
        _tree.Set(path, FsEntry.Symlink(target, _mtime));
        return this;
    }

    /// <summary>Writes the layer, config and manifest blobs and tags the manifest as <paramref name="tag"/>. Returns the manifest digest.</summary>
    public async Task<string> WriteAsync(string layoutPath, string tag, CancellationToken cancellationToken)
    {
        var layer = await BuildLayerAsync(cancellationToken);
        var layout = await OciLayout.CreateAsync(layoutPath, cancellationToken);
        var layerDescriptor = await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, layer.Compressed, cancellationToken);
        var config = new ImageConfig
        {
            Architecture = Architecture,
            Os = "linux",
            Config = new ContainerConfig
            {
                Entrypoint = Entrypoint,
                Cmd = Cmd,
                Env = Env,
                WorkingDir = WorkingDir,
                Labels = Labels.Count == 0 ? null : new SortedDictionary<string, string>(Labels, StringComparer.Ordinal),
            },
            RootFs = new RootFs { DiffIds = [OciDigest.Compute(layer.Uncompressed)] },
        };
        var configDescriptor = await layout.WriteBlobAsync(MediaTypes.OciConfig, OciJson.Serialize(config), cancellationToken);
        var manifest = new ImageManifest { MediaType = MediaTypes.OciManifest, Config = configDescriptor, Layers = [layerDescriptor] };
        var manifestDescriptor = await layout.WriteBlobAsync(MediaTypes.OciManifest, OciJson.Serialize(manifest), cancellationToken);
        await layout.TagAsync(tag, manifestDescriptor with { Platform = new Platform { Os = "linux", Architecture = Architecture } }, cancellationToken);
        return manifestDescriptor.Digest.ToString();
    }

    private async Task<(byte[] Uncompressed, byte[] Compressed)> BuildLayerAsync(CancellationToken cancellationToken)
    {
        using var tar = new MemoryStream();
        await new PaxTarWriter(tar).WriteTreeAsync(_tree, cancellationToken);
        var uncompressed = tar.ToArray();
        using var gz = new MemoryStream();
        // GZipStream writes a zero mtime and fixed header fields, so the same tar gives the same bytes.
        await using (var zip = new GZipStream(gz, CompressionLevel.Optimal, leaveOpen: true))
            await zip.WriteAsync(uncompressed, cancellationToken);
        return (uncompressed, gz.ToArray());
    }
}
