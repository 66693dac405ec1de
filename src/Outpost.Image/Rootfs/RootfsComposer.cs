using System.Text;
using System.Text.Json;
using Outpost.Image.Sources;
using Outpost.Image.Spec;

namespace Outpost.Image.Rootfs;

/// <summary>
/// Composes the rootfs exactly where linuxkit puts things: kernel → boot/, init images at /,
/// containers/onboot/NNN-name, containers/onshutdown/NNN-name, containers/services/name, then files.
/// All in memory (see <see cref="FsTree"/>).
/// </summary>
public sealed class RootfsComposer(IImageSource source, string baseDirectory, long? sourceDateEpoch)
{
    /// <summary>linuxkit's fixed mtime for entries it generates itself (2017-04-18 16:30 UTC), used when no SOURCE_DATE_EPOCH is given.</summary>
    public static readonly long LinuxkitFixedMTime = new DateTimeOffset(2017, 4, 18, 16, 30, 0, TimeSpan.Zero).ToUnixTimeSeconds();

    // Files linuxkit drops from every container image: they belong to the host or runtime.
    private static readonly string[] DroppedFromContainers = [".dockerenv", "Dockerfile", "dev/console", "dev/pts", "dev/shm", "etc/hostname"];
    private const string HostsFile = "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\n";
    private const string ResolvPlaceholder = "# no resolv.conf configured\n";

    private readonly Dictionary<string, SourceImage> _images = new(StringComparer.Ordinal);
    private readonly List<UsedImage> _used = [];

    private long GeneratedMTime => sourceDateEpoch ?? LinuxkitFixedMTime;

    public async Task<ComposedRootfs> ComposeAsync(ImageSpec spec, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        if (spec.Volumes.Count > 0)
            throw new NotSupportedYetException($"'volumes' (at {spec.Volumes[0].Location}) are not supported by Outpost yet. Remove the section, or bind a host path with 'binds' instead.");

        var root = new FsTree(GeneratedMTime);
        for (var i = 0; i < spec.Init.Count; i++)
        {
            progress?.Report($"init {spec.Init[i].Reference}");
            var image = await FetchAsync(spec.Init[i], $"init[{i}]", cancellationToken);
            foreach (var layer in image.Layers)
            {
                await using var stream = await layer.OpenAsync(cancellationToken);
                await LayerApplier.ApplyAsync(root, stream, image.Reference, cancellationToken);
            }
        }
        // After the init images, unlike linuxkit: a merged-/usr base (Debian) has lib as a symlink to usr/lib, which
        // would replace a lib/ directory the kernel's modules had already made; applied now, they land in usr/lib.
        if (spec.Kernel is { } kernel)
        {
            progress?.Report($"kernel {kernel.Image.Reference}");
            await AddKernelAsync(root, kernel, cancellationToken);
        }
        if (spec.Init.Count > 0 && root.Get("etc/resolv.conf") is not null)
            root.Set("etc/resolv.conf", FsEntry.Symlink("/run/resolvconf/resolv.conf", GeneratedMTime));

        var ids = ContainerIds(spec);
        await AddContainersAsync(root, spec.Onboot, "onboot", numbered: true, ids, progress, cancellationToken);
        await AddContainersAsync(root, spec.Onshutdown, "onshutdown", numbered: true, ids, progress, cancellationToken);
        await AddContainersAsync(root, spec.Services, "services", numbered: false, ids, progress, cancellationToken);
        await AddFilesAsync(root, spec, ids, cancellationToken);
        if (sourceDateEpoch is { } epoch) ClampMTimes(root, epoch);
        return new ComposedRootfs(root, _used);
    }

    private async Task AddKernelAsync(FsTree root, KernelSpec kernel, CancellationToken cancellationToken)
    {
        var image = await FetchAsync(kernel.Image, "kernel", cancellationToken);
        var files = await LayerApplier.FlattenAsync(image, GeneratedMTime, cancellationToken);
        var binary = files.Get(kernel.Binary);
        if (binary is not { Type: FsEntryType.File })
            throw new ImageBuildException($"kernel image '{kernel.Image.Reference}' (at {kernel.Image.Location}) has no file '{kernel.Binary}'. Set 'binary:' to the kernel's path inside the image.");
        root.Set("boot", Generated(FsEntry.Directory(GeneratedMTime), "kernel"));
        root.Set("boot/kernel", Generated(FsEntry.File(binary.Content, GeneratedMTime), "kernel") with { Source = kernel.Image.Reference });
        root.Set("boot/cmdline", Generated(FsEntry.File(Encoding.UTF8.GetBytes(kernel.Cmdline), GeneratedMTime), "kernel"));
        if (kernel.Ucode is { } ucodePath)
        {
            var ucode = files.Get(ucodePath) ?? throw new ImageBuildException($"kernel image '{kernel.Image.Reference}' has no microcode file '{ucodePath}' named by 'ucode:'.");
            root.Set("boot/ucode.cpio", Generated(FsEntry.File(ucode.Content, GeneratedMTime), "kernel"));
        }
        if (kernel.Tar is { } tarPath && files.Get(tarPath) is { Type: FsEntryType.File } tar)
        {
            using var stream = new MemoryStream(tar.Content.ToArray(), writable: false);
            await LayerApplier.ApplyAsync(root, stream, kernel.Image.Reference, cancellationToken, keepDirectorySymlinks: true);
        }
    }

    private async Task AddContainersAsync(FsTree root, IReadOnlyList<ContainerSpec> containers, string section, bool numbered,
        IReadOnlyDictionary<string, int> ids, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        for (var i = 0; i < containers.Count; i++)
        {
            var location = $"{section}[{i}]";
            progress?.Report($"{location} {containers[i].Name}");
            var image = await FetchAsync(containers[i].Image, location, cancellationToken);
            var spec = ContainerSpecMerger.WithLabelDefaults(containers[i], image.Config.Config?.Labels);
            var readOnly = spec.Readonly ?? false;
            var bundle = numbered ? $"containers/{section}/{i:D3}-{spec.Name}" : $"containers/{section}/{spec.Name}";

            var files = await LayerApplier.FlattenAsync(image, GeneratedMTime, cancellationToken);
            PrepareContainerRootfs(files);
            root.Set(bundle, Generated(FsEntry.Directory(GeneratedMTime), location));
            root.Graft(files, readOnly ? $"{bundle}/rootfs" : $"{bundle}/lower", e => e with { Location = location });
            if (!readOnly)
            {
                root.Set($"{bundle}/tmp", Generated(FsEntry.Directory(GeneratedMTime), location));
                root.Set($"{bundle}/rootfs", Generated(FsEntry.Directory(GeneratedMTime), location));
            }
            var config = RuntimeSpecBuilder.BuildConfig(spec, image.Config, readOnly, ids);
            var runtime = RuntimeSpecBuilder.BuildRuntime(spec, bundle, readOnly);
            root.Set($"{bundle}/config.json", Generated(FsEntry.File(Json(config), GeneratedMTime, 0b110_100_100), location));
            root.Set($"{bundle}/runtime.json", Generated(FsEntry.File(Json(runtime), GeneratedMTime, 0b110_100_100), location));
        }
    }

    private void PrepareContainerRootfs(FsTree files)
    {
        foreach (var path in DroppedFromContainers) files.Remove(path);
        foreach (var dir in new[] { "dev", "dev/pts", "dev/shm", "etc", "proc", "sys" })
            if (files.Get(dir) is not { Type: FsEntryType.Directory }) files.Set(dir, FsEntry.Directory(GeneratedMTime));
        files.Set("etc/mtab", FsEntry.Symlink("/proc/mounts", GeneratedMTime));
        files.Set("etc/hosts", FsEntry.File(Encoding.UTF8.GetBytes(HostsFile), GeneratedMTime));
        files.Set("etc/resolv.conf", FsEntry.File(Encoding.UTF8.GetBytes(ResolvPlaceholder), GeneratedMTime));
    }

    private async Task AddFilesAsync(FsTree root, ImageSpec spec, IReadOnlyDictionary<string, int> ids, CancellationToken cancellationToken)
    {
        for (var i = 0; i < spec.Files.Count; i++)
        {
            var file = spec.Files[i];
            var owner = new ContainerSpec { Name = file.Path, Image = new ImageRef("", file.Location), Location = file.Location };
            var uid = RuntimeSpecBuilder.ResolveId(file.Uid, ids, owner, "uid") ?? 0;
            var gid = RuntimeSpecBuilder.ResolveId(file.Gid, ids, owner, "gid") ?? 0;
            FsEntry entry;
            if (file.Directory) entry = FsEntry.Directory(GeneratedMTime, file.Mode);
            else if (file.Symlink is { } target) entry = FsEntry.Symlink(target, GeneratedMTime);
            else if (file.Metadata == "yaml") entry = FsEntry.File(Encoding.UTF8.GetBytes(spec.SourceText), GeneratedMTime, file.Mode);
            else if (file.Source is { } sourcePath)
            {
                var hostPath = sourcePath.StartsWith("~/", StringComparison.Ordinal)
                    ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), sourcePath[2..])
                    : Path.GetFullPath(sourcePath, baseDirectory);
                if (!File.Exists(hostPath))
                {
                    if (file.Optional) continue;
                    throw new ImageBuildException($"files[{i}] at {file.Location}: source '{hostPath}' does not exist. Create it, fix the path, or add 'optional: true'.");
                }
                entry = FsEntry.File(await File.ReadAllBytesAsync(hostPath, cancellationToken), GeneratedMTime, file.Mode);
            }
            else entry = FsEntry.File(Encoding.UTF8.GetBytes(file.Contents ?? ""), GeneratedMTime, file.Mode);
            root.Set(file.Path, Generated(entry with { Uid = uid, Gid = gid }, $"files[{i}]"));
        }
    }

    /// <summary>Every onboot, onshutdown and service container gets an id counting up from 100, in that order (linuxkit).</summary>
    private static Dictionary<string, int> ContainerIds(ImageSpec spec)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var next = 100;
        foreach (var container in spec.Onboot.Concat(spec.Onshutdown).Concat(spec.Services)) ids.TryAdd(container.Name, next++);
        return ids;
    }

    private async Task<SourceImage> FetchAsync(ImageRef reference, string location, CancellationToken cancellationToken)
    {
        if (!_images.TryGetValue(reference.Reference, out var image))
        {
            try
            {
                image = await source.GetAsync(reference.Reference, baseDirectory, cancellationToken);
            }
            catch (MissingImageException e)
            {
                throw new MissingImageException(reference.Reference, $"{e.Detail} (used at {reference.Location})");
            }
            _images[reference.Reference] = image;
        }
        _used.Add(new UsedImage(reference.Reference, image.ManifestDigest, location));
        return image;
    }

    private static FsEntry Generated(FsEntry entry, string location) => entry with { Source = "outpost", Location = location };

    private static byte[] Json(System.Text.Json.Nodes.JsonNode node) =>
        Encoding.UTF8.GetBytes(node.ToJsonString(RuntimeSpecBuilder.Indented) + "\n");

    private static void ClampMTimes(FsTree tree, long epoch)
    {
        foreach (var (path, entry) in tree.Enumerate().ToList())
            if (entry.MTime > epoch) tree.Set(path, entry with { MTime = epoch });
    }
}
