using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Outpost.Api.OsImages;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Disk.SquashFs;
using Outpost.Image.Boot;
using Outpost.Image.Disks;
using Outpost.Image.Initramfs;
using Outpost.Image.Rootfs;
using Outpost.Image.Sbom;
using Outpost.Image.Sources;
using Outpost.Image.Spec;
using Outpost.Image.Tar;

namespace Outpost.Image.Build;

/// <summary>
/// The whole build: YAML → rootfs.tar → rootfs.img (squashfs) → config.img, boot/vmlinuz, boot/initrd.img and the
/// ESP → live.raw (GPT, EVE layout) → live.qcow2 / installer.raw, plus an SPDX SBOM. No Docker, no root, no external tool; the same
/// inputs give the same bytes.
/// </summary>
public static class ImageBuilder
{
    public const string RootfsTar = "rootfs.tar";
    public const string RootfsImg = "rootfs.img";
    public const string ConfigImg = "config.img";
    public const string EfiImg = "efi.img";
    public const string LiveRaw = "live.raw";
    public const string LiveQcow2 = "live.qcow2";
    public const string InstallerRaw = "installer.raw";
    public const string Sbom = "sbom.spdx.json";
    public const string BootDirectory = "boot";

    /// <summary>The kernel the ESP boots, also as a file of the output: with rootfs.img, what an OS update carries.</summary>
    public const string KernelFile = OsImageArtifact.KernelFile;

    /// <summary>The initramfs the ESP boots, also as a file of the output.</summary>
    public const string InitrdFile = OsImageArtifact.InitrdFile;

    public static async Task<BuildSummary> BuildAsync(ImageBuildOptions options, IProgress<BuildProgress>? progress, CancellationToken cancellationToken)
    {
        CheckArchitecture(options.Architecture);
        var total = Stopwatch.StartNew();
        var steps = new List<StepDuration>();
        var artifacts = new List<BuildArtifact>();
        var epoch = options.SourceDateEpoch ?? SourceDateEpochFromEnvironment() ?? RootfsComposer.LinuxkitFixedMTime;
        var output = Directory.CreateDirectory(options.OutputDirectory).FullName;
        var baseDirectory = Path.GetDirectoryName(Path.GetFullPath(options.SpecPath))!;

        async Task<T> Step<T>(string name, Func<Task<T>> action)
        {
            progress?.Report(new BuildProgress(name, "started"));
            var watch = Stopwatch.StartNew();
            var result = await action();
            steps.Add(new StepDuration(name, watch.Elapsed));
            return result;
        }
        async Task AddArtifact(string name) => artifacts.Add(await DescribeAsync(Path.Combine(output, name), cancellationToken));

        var spec = await Step("parse", () => SpecParser.ParseFileAsync(options.SpecPath, cancellationToken));
        var wantsDisk = options.Formats != OutputFormats.None;
        if (wantsDisk && spec.Kernel is null)
            throw new ImageBuildException($"{Path.GetFileName(options.SpecPath)} has no 'kernel' section, so no bootable disk can be made. Add a kernel, or build with no disk formats.");

        var source = options.ImageSource ?? new CompositeImageSource(new OciLayoutImageSource(), registry: null);
        var composed = await Step("compose", () => new RootfsComposer(source, baseDirectory, epoch)
            .ComposeAsync(spec, new Progress<string>(d => progress?.Report(new BuildProgress("compose", d))), cancellationToken));
        var tree = composed.Tree;
        ReleaseFiles.Add(tree, options, epoch);
        if (spec.Outpost is { } outpost)
        {
            if (wantsDisk && options.ConfigDirectory is null && !options.ConfigWrittenLater)
                throw new ImageBuildException($"{Path.GetFileName(options.SpecPath)} asks for the Outpost agent, but no --config folder was given: the device would not know its controller. Make one with `outpost onboarding create --out DIR` and pass --config DIR, or pass --config-later when `outpost lab` writes each device's CONFIG.");
            await Step("outpost", async () =>
            {
                await OutpostOsFiles.AddAsync(tree, outpost, options, epoch, cancellationToken);
                return true;
            });
        }

        await Step("rootfs.tar", async () =>
        {
            await using var file = CreateOutput(output, RootfsTar);
            await new PaxTarWriter(file).WriteTreeAsync(tree, cancellationToken);
            return true;
        });
        await AddArtifact(RootfsTar);

        await Step("sbom", async () =>
        {
            var bytes = SpdxSbomWriter.Write("outpost", options.Version, artifacts[0].Sha256, composed.Images,
                PackageDatabaseReader.FindAll(tree), DateTimeOffset.FromUnixTimeSeconds(epoch));
            await File.WriteAllBytesAsync(Path.Combine(output, Sbom), bytes, cancellationToken);
            return true;
        });
        await AddArtifact(Sbom);

        await Step("rootfs.img", async () =>
        {
            await using var file = CreateOutput(output, RootfsImg);
            await SquashFsWriter.WriteAsync(file, ToSquashFs(tree), new SquashFsOptions((uint)epoch), cancellationToken);
            return true;
        });
        await AddArtifact(RootfsImg);
        if (!wantsDisk) return new BuildSummary(artifacts, steps, composed.Images, total.Elapsed);

        var timestamp = DateTimeOffset.FromUnixTimeSeconds(Math.Max(epoch, 315532800 + 86400)).UtcDateTime; // FAT dates start in 1980
        await Step("config.img", async () =>
        {
            var root = await ConfigPartition.BuildAsync(options.ConfigDirectory, cancellationToken);
            await WriteFatAsync(Path.Combine(output, ConfigImg), root, options.Sizes.ConfigMiB, ConfigPartition.Label, timestamp, cancellationToken);
            return true;
        });
        await AddArtifact(ConfigImg);

        var kernel = tree.Get("boot/kernel")!.Content.ToArray();
        var cmdline = System.Text.Encoding.UTF8.GetString((tree.Get("boot/cmdline")?.Content ?? ReadOnlyMemory<byte>.Empty).Span).Trim();
        var bootManager = await BootloaderFiles.ReadSystemdBootAsync(options.SystemdBootPath, cancellationToken);
        var initrd = await Step("initramfs", () => Task.FromResult(InitramfsBuilder.Build(tree, epoch)));
        // The exact kernel and initramfs the ESP gets, as files: with rootfs.img they are what an OS update carries
        // (`outpost image sign`, `outpost os push`).
        await Step("boot", async () =>
        {
            Directory.CreateDirectory(Path.Combine(output, BootDirectory));
            await File.WriteAllBytesAsync(Path.Combine(output, KernelFile), kernel, cancellationToken);
            await File.WriteAllBytesAsync(Path.Combine(output, InitrdFile), initrd, cancellationToken);
            return true;
        });
        artifacts.Add(await DescribeAsync(Path.Combine(output, KernelFile), cancellationToken) with { Name = KernelFile });
        artifacts.Add(await DescribeAsync(Path.Combine(output, InitrdFile), cancellationToken) with { Name = InitrdFile });

        var rootfsBytes = new FileInfo(Path.Combine(output, RootfsImg)).Length;
        // A device image's slots must take the next versions too (an A/B update writes IMGB with a newer, maybe
        // larger rootfs): a quarter more than this one, unless the spec's user chose a size.
        var fitted = spec.Outpost is not null ? rootfsBytes + rootfsBytes / 4 : rootfsBytes;
        var slotBytes = Math.Max(PartitionPlan.RoundUp(fitted, PartitionPlan.MiB), options.Sizes.RootfsMiB * PartitionPlan.MiB);

        if (options.Formats.HasFlag(OutputFormats.Raw) || options.Formats.HasFlag(OutputFormats.Qcow2))
        {
            await Step("live.raw", async () =>
            {
                var esp = EspContents.Build(bootManager, [new BootSlot(EvePartitions.ImgaName, PartitionState.Active, kernel, initrd, cmdline)], options.Version);
                var espPath = Path.Combine(output, EfiImg);
                await WriteFatAsync(espPath, esp, options.Sizes.EspMiB, "EFI", timestamp, cancellationToken);
                await RawDiskWriter.WriteAsync(Path.Combine(output, LiveRaw), LiveLayout.Partitions(options.Sizes, espPath,
                    Path.Combine(output, RootfsImg), Path.Combine(output, ConfigImg), slotBytes), cancellationToken);
                return true;
            });
            await AddArtifact(EfiImg);
            await AddArtifact(LiveRaw);
        }
        if (options.Formats.HasFlag(OutputFormats.Qcow2))
        {
            await Step("live.qcow2", async () =>
            {
                await Qcow2Output.ConvertAsync(Path.Combine(output, LiveRaw), Path.Combine(output, LiveQcow2), cancellationToken);
                return true;
            });
            await AddArtifact(LiveQcow2);
            if (!options.Formats.HasFlag(OutputFormats.Raw))
            {
                File.Delete(Path.Combine(output, LiveRaw));
                artifacts.RemoveAll(a => a.Name == LiveRaw);
            }
        }
        if (options.Formats.HasFlag(OutputFormats.Installer))
        {
            await Step("installer.raw", async () =>
            {
                var esp = EspContents.Build(bootManager, [new BootSlot(EvePartitions.InstallerName, PartitionState.Active, kernel, initrd, cmdline)], options.Version);
                var espPath = Path.Combine(output, "installer-efi.img");
                var inventoryPath = Path.Combine(output, "inventory.img");
                // The ESP live.raw gets (its entry boots IMGA), which the installer copies verbatim onto the installed
                // disk. Built again rather than taken from efi.img so an installer-only build has it too; the same
                // inputs give the same bytes.
                var liveEsp = EspContents.Build(bootManager, [new BootSlot(EvePartitions.ImgaName, PartitionState.Active, kernel, initrd, cmdline)], options.Version);
                var liveEspPath = Path.Combine(output, "installer-live-efi.img");
                await WriteFatAsync(espPath, esp, options.Sizes.EspMiB, "EFI", timestamp, cancellationToken);
                await WriteFatAsync(liveEspPath, liveEsp, options.Sizes.EspMiB, "EFI", timestamp, cancellationToken);
                await WriteFatAsync(inventoryPath, FatDirectory.CreateRoot(), options.Sizes.InventoryMiB, "INVENTORY", timestamp, cancellationToken);
                try
                {
                    await RawDiskWriter.WriteAsync(Path.Combine(output, InstallerRaw), InstallerLayout.Partitions(options.Sizes, espPath,
                        Path.Combine(output, ConfigImg), inventoryPath, Path.Combine(output, RootfsImg), rootfsBytes, liveEspPath), cancellationToken);
                }
                finally
                {
                    File.Delete(espPath);
                    File.Delete(liveEspPath);
                    File.Delete(inventoryPath);
                }
                return true;
            });
            await AddArtifact(InstallerRaw);
        }
        return new BuildSummary(artifacts, steps, composed.Images, total.Elapsed);
    }

    private static void CheckArchitecture(string architecture)
    {
        if (architecture == "amd64") return;
        if (architecture is "arm64" or "aarch64")
            throw new NotSupportedYetException("arch arm64 is not yet supported: the boot path (systemd-boot x64, OVMF) is amd64 only. Build with --arch amd64.");
        throw new ImageBuildException($"unknown architecture '{architecture}'. Use amd64 (arm64 is planned).");
    }

    private static long? SourceDateEpochFromEnvironment() =>
        long.TryParse(Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"), out var value) ? value : null;

    private static FileStream CreateOutput(string directory, string name) =>
        new(Path.Combine(directory, name), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20, useAsync: true);

    private static async Task WriteFatAsync(string path, FatDirectory root, int sizeMiB, string label, DateTime timestamp, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20, useAsync: true);
        try
        {
            await FatVolume.WriteAsync(file, root, sizeMiB * PartitionPlan.MiB, label, timestamp, cancellationToken);
        }
        catch (FatLayoutException e)
        {
            throw new ImageBuildException($"cannot build the {label} FAT volume of {sizeMiB} MiB: {e.Message} Raise its size in the build options.");
        }
    }

    private static IEnumerable<SquashFsEntry> ToSquashFs(FsTree tree)
    {
        yield return SquashFsEntry.Directory("", tree.RootEntry.Mode, (uint)tree.RootEntry.Uid, (uint)tree.RootEntry.Gid, (uint)tree.RootEntry.MTime);
        foreach (var (path, e) in tree.Enumerate())
        {
            uint uid = (uint)e.Uid, gid = (uint)e.Gid, mtime = (uint)Math.Max(0, e.MTime);
            yield return e.Type switch
            {
                FsEntryType.Directory => SquashFsEntry.Directory(path, e.Mode, uid, gid, mtime),
                FsEntryType.File => SquashFsEntry.File(path, () => OpenContent(e.Content), e.Mode, uid, gid, mtime),
                FsEntryType.Symlink => SquashFsEntry.Symlink(path, e.LinkTarget ?? "", uid, gid, mtime),
                FsEntryType.CharDevice => SquashFsEntry.Device(path, SquashFsEntryType.CharDevice, (uint)e.DevMajor, (uint)e.DevMinor, e.Mode, uid, gid, mtime),
                FsEntryType.BlockDevice => SquashFsEntry.Device(path, SquashFsEntryType.BlockDevice, (uint)e.DevMajor, (uint)e.DevMinor, e.Mode, uid, gid, mtime),
                _ => new SquashFsEntry(path, SquashFsEntryType.Fifo, e.Mode, uid, gid, mtime),
            };
        }
    }

    private static Stream OpenContent(ReadOnlyMemory<byte> content) =>
        MemoryMarshal.TryGetArray(content, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(content.ToArray(), writable: false);

    internal static async Task<BuildArtifact> DescribeAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        var hash = await SHA256.HashDataAsync(file, cancellationToken);
        return new BuildArtifact(Path.GetFileName(path), path, file.Length, Convert.ToHexStringLower(hash));
    }
}
