using System.CommandLine;
using Outpost.Cli.Admin;
using Outpost.Controller.OsImages;
using Outpost.Image.OsImages;
using Spectre.Console;

namespace Outpost.Cli.Commands;

/// <summary>`outpost os push|list`: Outpost OS versions in the controller's registry, for `outpost device update`; `outpost os update`: local mode.</summary>
internal static class OsCommand
{
    public static Command Create()
    {
        var command = new Command("os", "Publish Outpost OS versions to the controller's registry for base-OS updates.");

        var directory = new Argument<string>("dir") { Description = "An `outpost image build --out` folder (rootfs.img, boot/vmlinuz, boot/initrd.img, os-image.sig.json)." };
        var version = new Option<string>("--version") { Description = "The OS version, as the folder was built (--version) and signed; the tag in outpost/os.", Required = true };
        var signKey = new Option<string?>("--sign-key") { Description = "Sign the folder with this private key (as `outpost image sign` does) before pushing." };
        var push = new Command("push", "Push a signed OS image folder to the controller's registry as outpost/os:VERSION.") { directory, version, signKey };
        ControllerLocation.AddOptions(push);
        push.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var folder = Path.GetFullPath(parse.GetValue(directory)!);
            if (!Directory.Exists(folder))
            {
                throw new CliException($"'{parse.GetValue(directory)}' is not a folder; give the --out folder of `outpost image build`.");
            }

            var wanted = parse.GetValue(version)!;
            var location = ControllerLocation.Resolve(parse);
            if (parse.GetValue(signKey) is { } keyPath)
            {
                using var key = OsSigningKeys.LoadPrivateKey(keyPath);
                await OsImageFolder.SignAsync(folder, key, wanted, ct);
                Console.WriteLine($"Signed {folder} as version {wanted} with {keyPath}.");
            }

            // Checked before anything is sent: unsigned, signed for another version, or changed since.
            await OsImagePublisher.DescribeAsync(folder, wanted, ct);
            var (client, http) = ControllerRegistryClient.Create(location);
            using (http)
            using (client)
            {
                var registry = ControllerRegistryClient.RegistryOf(location);
                Console.WriteLine($"Pushing {folder} to {registry}/{Outpost.Api.OsImages.OsImageArtifact.Repository}:{wanted} ...");
                var artifact = await OsImagePublisher.PushAsync(folder, wanted, client, registry, new Lines(), ct);
                Console.WriteLine($"Pushed {Outpost.Api.OsImages.OsImageArtifact.Repository}:{wanted} ({artifact.Digest}). Update a device: outpost device update DEVICE --version {wanted}");
            }

            return 0;
        }));

        command.Subcommands.Add(push);
        // Local mode on a host running `outpost agent` (on an Outpost OS image: `outpost-device os update`).
        command.Subcommands.Add(Outpost.Agent.BaseOs.OsUpdateCommandLine.Create());
        command.Subcommands.Add(DeviceCommand.Admin("list", "List the OS versions in the controller's registry.", [], async (admin, _, ct) =>
        {
            var images = await admin.GetAsync<List<OsImageView>>("api/admin/os-images", ct);
            if (images.Count == 0)
            {
                Console.WriteLine("No OS version has been pushed; push one with `outpost os push DIR --version V`.");
                return 0;
            }

            var table = new Table().AddColumns("Version", "Digest", "Size", "Signed", "Problem");
            foreach (var image in images)
            {
                table.AddRow(Markup.Escape(image.Version), image.Digest, $"{image.SizeBytes / (1024.0 * 1024):0.0} MiB", image.Signed ? "yes" : "no",
                    Markup.Escape(image.Problem ?? ""));
            }

            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    /// <summary>Progress printed as it happens (Progress&lt;T&gt; posts to the thread pool and could print after the summary).</summary>
    private sealed class Lines : IProgress<string>
    {
        public void Report(string value) => Console.WriteLine("  " + value);
    }
}
