using System.CommandLine;
using System.Text.Json;
using Outpost.Image.Build;
using Outpost.Image.Diff;
using Outpost.Image.Inspect;
using Outpost.Image.Sources;
using Outpost.Oci.Registry;
using Spectre.Console;

namespace Outpost.Cli.Commands;

/// <summary>`outpost image build|inspect|diff|push|push-disk|sign|keygen`: the OS image builder and image utilities.</summary>
internal static class ImageCommand
{
    public static Command Create()
    {
        var command = new Command("image", "Build Outpost OS images (linuxkit YAML → rootfs → bootable disks) and handle OCI images.");
        command.Subcommands.Add(CreateBuild());
        command.Subcommands.Add(CreateInspect());
        command.Subcommands.Add(CreateDiff());
        command.Subcommands.Add(ImagePushCommand.Create());
        command.Subcommands.Add(ImagePushDiskCommand.Create());
        command.Subcommands.Add(CreateSign());
        command.Subcommands.Add(CreateKeygen());
        command.Subcommands.Add(CreateExampleInputs());
        command.Subcommands.Add(CreateContainerVmKit());
        return command;
    }

    /// <summary>The kernel and initrd a device boots for an app whose container is isolated in a VM.</summary>
    private static Command CreateContainerVmKit()
    {
        var output = new Option<string>("--out") { Description = "Folder to write vmlinuz and initrd.img to (the agent's --container-vm-kit).", Required = true };
        var kernel = new Option<string?>("--kernel") { Description = "The guest kernel (default: this host's newest /boot/vmlinuz-* with modules)." };
        var modules = new Option<string?>("--modules") { Description = "That kernel's lib/modules/VERSION folder (default: derived from the kernel's name)." };
        var busybox = new Option<string>("--busybox") { Description = "The static busybox the guest runs.", DefaultValueFactory = _ => "/bin/busybox" };
        var command = new Command("container-vm-kit", "Build the kernel and initrd for containers isolated in a VM (`app deploy --isolation vm`).")
        {
            output, kernel, modules, busybox,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var kit = await Outpost.Image.Initramfs.ContainerVmKit.BuildAsync(
                parse.GetValue(output)!, parse.GetValue(kernel), parse.GetValue(modules), parse.GetValue(busybox)!, ct);
            Console.WriteLine($"Wrote {kit.KernelPath} and {kit.InitrdPath} (sha256 {kit.Sha256[..16]}…). Start the agent with --container-vm-kit {kit.Directory}.");
            return 0;
        }));
        return command;
    }

    /// <summary>Signs a build folder for base-OS updates: SHA-256 of rootfs.img, boot/vmlinuz and boot/initrd.img with the version, ECDSA P-256.</summary>
    private static Command CreateSign()
    {
        var directory = new Argument<string>("dir") { Description = "An `outpost image build --out` folder." };
        var key = new Option<string>("--key") { Description = "ECDSA P-256 private key, PKCS#8 PEM (`outpost image keygen` makes one).", Required = true };
        var version = new Option<string?>("--version") { Description = "The version it was built with (default: the one its rootfs.tar records in /etc/outpost-release)." };
        var command = new Command("sign", $"Sign a build folder as an OS update: writes {Outpost.Api.OsImages.OsImageArtifact.SignatureFile}, which devices check with os-signing.pem on their CONFIG partition.")
        {
            directory, key, version,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var folder = Path.GetFullPath(parse.GetValue(directory)!);
            if (!Directory.Exists(folder))
            {
                throw new CliException($"'{parse.GetValue(directory)}' is not a folder; give the --out folder of `outpost image build`.");
            }

            using var signingKey = Outpost.Image.OsImages.OsSigningKeys.LoadPrivateKey(parse.GetValue(key)!);
            var statement = await Outpost.Image.OsImages.OsImageFolder.SignAsync(folder, signingKey, parse.GetValue(version), ct);
            Console.WriteLine($"Signed {folder} as Outpost OS {statement.Version} ({statement.Architecture}): rootfs sha256:{statement.RootfsSha256}, kernel sha256:{statement.KernelSha256}, initrd sha256:{statement.InitrdSha256}.");
            Console.WriteLine($"Push it: outpost os push {parse.GetValue(directory)} --version {statement.Version}");
            return 0;
        }));
        return command;
    }

    private static Command CreateKeygen()
    {
        var key = new Argument<string>("key") { Description = "Where to write the private key (mode 0600); the public key goes beside it as KEY.pub.pem." };
        var command = new Command("keygen", "Make an OS signing key pair (ECDSA P-256): KEY.pem to sign with, KEY.pub.pem for devices (`outpost onboarding create --os-signing-key`).") { key };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() =>
        {
            var path = Path.GetFullPath(parse.GetValue(key)!);
            var publicKey = Outpost.Image.OsImages.OsSigningKeys.Generate(path);
            Console.WriteLine($"Wrote the private key {path} (keep it secret; sign with `outpost image sign DIR --key {parse.GetValue(key)}`) and the public key {publicKey} (give it to devices: `outpost onboarding create ... --os-signing-key {publicKey}`).");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Packs the example's kernel, init and busybox images from this machine's Debian packages, offline.</summary>
    private static Command CreateExampleInputs()
    {
        var output = new Argument<string>("dir") { Description = "Where to write the OCI layouts (kernel, init, busybox)." };
        var command = new Command("example-inputs", "Make the inputs of examples/outpost.yml as local OCI layouts: the host's kernel (linux-image-amd64), a Debian 12 userland (mmdebstrap, cached) and busybox-static.") { output };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var directory = Path.GetFullPath(parse.GetValue(output)!);
            await Outpost.Image.Layouts.DemoInputs.CreateAsync(directory, sources: null, ct, new Progress<string>(Console.WriteLine));
            Console.WriteLine($"Wrote kernel, debian-base, busybox and init OCI layouts to {directory}.");
            return 0;
        }));
        return command;
    }

    private static Command CreateBuild()
    {
        var spec = new Argument<string>("spec") { Description = "linuxkit-format YAML (kernel, init, onboot, services, files)." };
        var output = new Option<string>("--out") { Description = "Output directory.", DefaultValueFactory = _ => "./out" };
        var version = new Option<string>("--version") { Description = "Image version (ROOTFS_VERSION), recorded in /etc/outpost-release.", DefaultValueFactory = _ => "0.0.0-dev" };
        var arch = new Option<string>("--arch") { Description = "Target architecture (amd64; arm64 is planned).", DefaultValueFactory = _ => "amd64" };
        var hypervisor = new Option<string>("--hypervisor") { Description = "Hypervisor flavour recorded in the image.", DefaultValueFactory = _ => "kvm" };
        var platform = new Option<string>("--platform") { Description = "Platform recorded in the image.", DefaultValueFactory = _ => "generic" };
        var formats = new Option<string[]>("--format") { Description = "Disk formats: raw, qcow2, installer, all (repeatable; default raw).", DefaultValueFactory = _ => ["raw"] };
        var config = new Option<string?>("--config") { Description = "Device config folder for the CONFIG partition (e.g. from `outpost onboarding create`)." };
        var epoch = new Option<long?>("--source-date-epoch") { Description = "Timestamp for every file (default: $SOURCE_DATE_EPOCH), for reproducible output." };
        var cache = new Option<string>("--cache") { Description = "Where images pulled from registries are kept.", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "outpost-image-cache") };
        var deviceBinary = new Option<string?>("--device-binary") { Description = $"The Native AOT device binary for a spec with 'outpost:' (default: ${Images.DeviceBinaryLocator.EnvironmentVariable}, beside outpost, or built from the source tree)." };
        var configLater = new Option<bool>("--config-later") { Description = "Build an Outpost OS image without a CONFIG folder; `outpost lab` writes each device's CONFIG into its copy." };
        var command = new Command("build", "Build rootfs.tar, rootfs.img and bootable disks from a linuxkit YAML spec.")
        {
            spec, output, version, arch, hypervisor, platform, formats, config, epoch, cache, deviceBinary, configLater,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var options = new ImageBuildOptions
            {
                SpecPath = Path.GetFullPath(parse.GetValue(spec)!),
                OutputDirectory = Path.GetFullPath(parse.GetValue(output)!),
                Version = parse.GetValue(version)!,
                Architecture = parse.GetValue(arch)!,
                Hypervisor = parse.GetValue(hypervisor)!,
                Platform = parse.GetValue(platform)!,
                Formats = ParseFormats(parse.GetValue(formats)!),
                ConfigDirectory = parse.GetValue(config) is { } dir ? Path.GetFullPath(dir) : null,
                SourceDateEpoch = parse.GetValue(epoch),
                ConfigWrittenLater = parse.GetValue(configLater),
                DeviceBinary = c => Images.DeviceBinaryLocator.LocateAsync(parse.GetValue(deviceBinary), new Progress<string>(Console.Error.WriteLine), c),
                ImageSource = new CompositeImageSource(new OciLayoutImageSource(), new RegistryImageSource(parse.GetValue(cache)!, new RegistryClient())),
            };

            var summary = await BuildWithProgressAsync(options, ct);
            var artifacts = new Table().AddColumns("Artifact", "Size", "SHA-256");
            foreach (var artifact in summary.Artifacts)
            {
                artifacts.AddRow(Markup.Escape(Path.GetRelativePath(Environment.CurrentDirectory, artifact.Path)), FormatSize(artifact.SizeBytes), artifact.Sha256);
            }

            AnsiConsole.Write(artifacts);
            var steps = new Table().AddColumns("Step", "Time");
            foreach (var step in summary.Steps)
            {
                steps.AddRow(Markup.Escape(step.Step), $"{step.Duration.TotalSeconds:0.00} s");
            }

            steps.AddRow("[bold]total[/]", $"[bold]{summary.Total.TotalSeconds:0.00} s[/]");
            AnsiConsole.Write(steps);
            return 0;
        }));
        return command;
    }

    /// <summary>A live status line on a terminal; plain lines in logs and pipes.</summary>
    private static async Task<BuildSummary> BuildWithProgressAsync(ImageBuildOptions options, CancellationToken ct)
    {
        if (Console.IsOutputRedirected)
        {
            var lines = new Progress<BuildProgress>(p => Console.WriteLine($"[{p.Step}] {p.Detail}"));
            return await ImageBuilder.BuildAsync(options, lines, ct);
        }

        BuildSummary? summary = null;
        await AnsiConsole.Status().StartAsync("Building", async status =>
        {
            var progress = new Progress<BuildProgress>(p => status.Status($"[bold]{Markup.Escape(p.Step)}[/] {Markup.Escape(p.Detail)}"));
            summary = await ImageBuilder.BuildAsync(options, progress, ct);
        });
        return summary!;
    }

    private static Command CreateInspect()
    {
        var file = new Argument<string>("file") { Description = "A disk (raw or qcow2), squashfs, FAT image or rootfs tar." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("inspect", "Show partitions, A/B states, filesystems and digests of an image file.") { file, json };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var path = parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw new CliException($"'{path}' does not exist.");
            }

            var inspection = await ImageInspector.InspectAsync(path, ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(inspection, new JsonSerializerOptions(JsonSerializerOptions.Web) { WriteIndented = true }));
                return 0;
            }

            Console.WriteLine($"{inspection.Path}: {inspection.Format}, {FormatSize(inspection.SizeBytes)}, sha256 {inspection.Sha256}"
                + (inspection.DiskGuid is { } guid ? $", disk GUID {guid}" : ""));
            if (inspection.Partitions.Count > 0)
            {
                var table = new Table().AddColumns("#", "Name", "Type", "Size", "A/B", "Attributes", "Filesystem", "SHA-256");
                foreach (var part in inspection.Partitions)
                {
                    table.AddRow(part.Number.ToString(), Markup.Escape(part.Name), Markup.Escape(part.TypeName), FormatSize(part.SizeBytes),
                        part.AbState ?? "-", $"0x{part.Attributes:x16}", Markup.Escape(Describe(part.Filesystem)), part.Sha256[..16] + "…");
                }

                AnsiConsole.Write(table);
            }
            else if (inspection.Filesystem is { } filesystem)
            {
                Console.WriteLine(Describe(filesystem));
                foreach (var entry in filesystem.Files ?? [])
                {
                    Console.WriteLine("  " + entry);
                }
            }

            return 0;
        }));
        return command;
    }

    private static Command CreateDiff()
    {
        var before = new Argument<string>("a") { Description = "First rootfs tar." };
        var after = new Argument<string>("b") { Description = "Second rootfs tar." };
        var mtime = new Option<bool>("--mtime") { Description = "Also report changed modification times." };
        var command = new Command("diff", "List files that differ between two rootfs tars.") { before, after, mtime };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var changes = await RootfsDiff.CompareAsync(parse.GetValue(before)!, parse.GetValue(after)!, parse.GetValue(mtime), ct);
            foreach (var change in changes)
            {
                var mark = change.Kind switch { RootfsChangeKind.Added => "+", RootfsChangeKind.Removed => "-", _ => "~" };
                Console.WriteLine($"{mark} {change.Path}" + (change.Details.Count > 0 ? $"  ({string.Join("; ", change.Details)})" : ""));
            }

            Console.WriteLine($"{changes.Count} difference(s).");
            return changes.Count == 0 ? 0 : 1;
        }));
        return command;
    }

    private static OutputFormats ParseFormats(IEnumerable<string> names)
    {
        var formats = OutputFormats.None;
        foreach (var name in names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            formats |= name.ToLowerInvariant() switch
            {
                "raw" => OutputFormats.Raw,
                "qcow2" => OutputFormats.Qcow2,
                "installer" => OutputFormats.Installer,
                "all" => OutputFormats.All,
                _ => throw new CliException($"Unknown --format '{name}'; use raw, qcow2, installer or all."),
            };
        }

        return formats;
    }

    private static string Describe(FilesystemInspection? filesystem) => filesystem is null
        ? "-"
        : filesystem.Type + (filesystem.Label is { Length: > 0 } label ? $" \"{label}\"" : "") + (filesystem.Compression is { } c ? $" ({c})" : "");

    private static string FormatSize(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };
}
