using System.CommandLine;
using System.Text.Json;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;
using Spectre.Console;

namespace Outpost.Cli.Commands;

/// <summary>`outpost app deploy|list|show|start|stop|restart|purge|delete|logs` and `outpost datastore add|list`.</summary>
internal static class AppCommand
{
    internal static readonly Option<string> DeviceOption = new("--device") { Description = "Device UUID or serial.", Required = true };

    public static Command Create()
    {
        var command = new Command("app", "Deploy and manage apps on devices: OCI containers, and VMs booting from a disk image.");
        command.Subcommands.Add(DeviceCommand.Admin("deploy", "Deploy an app to a device: a container, or with --vm a VM booting from a disk artifact.",
            [DeviceOption, .. Deploy.Symbols], async (admin, parse, ct) =>
            {
                var request = await Deploy.RequestAsync(parse, ct);
                var view = await admin.PostAsync<AppView>(AppsPath(parse), request, ct);
                Console.WriteLine($"Deployed {(view.Vm is not null ? "VM" : view.Isolation == "vm" ? "app (in a VM of its own)" : "app")} {view.Name} ({view.Id}); the device picks it up at its next config poll. Watch: outpost app show {view.Name} --device {parse.GetValue(DeviceOption)}");
                return 0;
            }));
        command.Subcommands.Add(DeviceCommand.Admin("list", "List the apps on a device with their state.", [DeviceOption], async (admin, parse, ct) =>
        {
            var table = new Table().AddColumns("ID", "Name", "Image", "State", "Activate", "Restart", "Memory", "CPUs", "Errors");
            foreach (var app in await admin.GetAsync<List<AppView>>(AppsPath(parse), ct))
            {
                table.AddRow(app.Id.ToString(), Markup.Escape(app.Name), Markup.Escape(app.Image), app.State, app.Activate ? "yes" : "no", app.Restart,
                    $"{app.MemoryBytes / (1024 * 1024)}M", app.Cpus.ToString(), Markup.Escape(string.Join("; ", app.Errors)));
            }

            AnsiConsole.Write(table);
            return 0;
        }));

        var app = new Argument<string>("app") { Description = "App name or UUID." };
        command.Subcommands.Add(DeviceCommand.Admin("show", "Show one app.", [app, DeviceOption], async (admin, parse, ct) =>
        {
            var view = await admin.GetAsync<AppView>($"{AppsPath(parse)}/{Uri.EscapeDataString(parse.GetValue(app)!)}", ct);
            Console.WriteLine(JsonSerializer.Serialize(view, new JsonSerializerOptions(JsonSerializerOptions.Web) { WriteIndented = true }));
            return 0;
        }));
        foreach (var action in Enum.GetValues<AppAction>())
        {
            var verb = action.ToString().ToLowerInvariant();
            command.Subcommands.Add(DeviceCommand.Admin(verb, $"{action} an app.", [app, DeviceOption], async (admin, parse, ct) =>
            {
                var view = await admin.PostAsync<AppView>($"{AppsPath(parse)}/{Uri.EscapeDataString(parse.GetValue(app)!)}/{verb}", new { }, ct);
                Console.WriteLine($"{action} requested for {view.Name}; state now {view.State}.");
                return 0;
            }));
        }

        command.Subcommands.Add(DeviceCommand.Admin("delete", "Delete an app, its volume and unused content.", [app, DeviceOption], async (admin, parse, ct) =>
        {
            await admin.DeleteAsync($"{AppsPath(parse)}/{Uri.EscapeDataString(parse.GetValue(app)!)}", ct);
            Console.WriteLine("Deleted; the device removes it at its next config poll.");
            return 0;
        }));

        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines." };
        command.Subcommands.Add(DeviceCommand.Admin("logs", "Print an app's console output.", [app, DeviceOption, follow], async (admin, parse, ct) =>
        {
            var view = await admin.GetAsync<AppView>($"{AppsPath(parse)}/{Uri.EscapeDataString(parse.GetValue(app)!)}", ct);
            var path = $"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(DeviceOption)!)}/logs?app={view.Id}";
            if (parse.GetValue(follow))
            {
                await foreach (var line in admin.StreamLinesAsync(path + "&follow=true", ct))
                {
                    Console.WriteLine(JsonSerializer.Deserialize<LogView>(line, JsonSerializerOptions.Web)!.Content);
                }
            }
            else
            {
                foreach (var line in await admin.GetAsync<List<LogView>>(path, ct))
                {
                    Console.WriteLine(line.Content);
                }
            }

            return 0;
        }));
        command.Subcommands.Add(DeviceCommand.Admin("console", "Open a VM app's serial console through the controller (the app needs --console; Ctrl-] leaves).",
            [app, DeviceOption], async (admin, parse, ct) =>
                await ConsoleSession.RunAsync(admin, $"{AppsPath(parse)}/{Uri.EscapeDataString(parse.GetValue(app)!)}/console", parse.GetValue(app)!, ct)));
        return command;
    }

    public static Command CreateDatastore()
    {
        var command = new Command("datastore", "Manage datastores (registries and HTTP servers apps are pulled from).");
        var name = new Option<string>("--name") { Description = "Datastore name.", Required = true };
        var url = new Option<string>("--url") { Description = "docker://HOST[:PORT] for an OCI registry, or http(s)://HOST/PATH.", Required = true };
        var username = new Option<string?>("--username") { Description = "User name (registry basic/bearer auth or HTTP)." };
        var passwordFile = new Option<string?>("--password-file") { Description = "File holding the password or token (kept out of shell history)." };
        var caFile = new Option<string?>("--datastore-ca-file") { Description = "Extra root certificate (PEM) devices trust for this datastore." };
        var type = new Option<string?>("--type") { Description = "http (a web server serving VM disk images) or oci (a registry); default: from the URL's scheme, which it must agree with." };
        type.AcceptOnlyFromAmong("http", "oci");
        command.Subcommands.Add(DeviceCommand.Admin("add", "Add or update a datastore.", [name, url, type, username, passwordFile, caFile], async (admin, parse, ct) =>
        {
            var password = parse.GetValue(passwordFile) is { } file ? (await File.ReadAllTextAsync(file, ct)).Trim() : null;
            var certificate = parse.GetValue(caFile) is { } ca ? await File.ReadAllTextAsync(ca, ct) : null;
            var view = await admin.PostAsync<DatastoreView>("api/admin/datastores",
                new CreateDatastoreRequest(parse.GetValue(name)!, parse.GetValue(url)!, parse.GetValue(username), password, certificate, parse.GetValue(type)), ct);
            Console.WriteLine($"Datastore {view.Name} ({view.Id}) saved.");
            return 0;
        }));
        command.Subcommands.Add(DeviceCommand.Admin("list", "List datastores.", [], async (admin, _, ct) =>
        {
            var table = new Table().AddColumns("ID", "Name", "URL", "User", "Password");
            foreach (var store in await admin.GetAsync<List<DatastoreView>>("api/admin/datastores", ct))
            {
                table.AddRow(store.Id.ToString(), Markup.Escape(store.Name), Markup.Escape(store.Url), Markup.Escape(store.Username ?? "-"), store.HasPassword ? "set" : "-");
            }

            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    /// <summary>`app deploy`'s flags and how they become a <see cref="DeployAppRequest"/> (kept apart so tests can parse without a controller).</summary>
    internal static class Deploy
    {
        private const long MiB = 1024 * 1024;

        private static readonly Option<string> Name = new("--name") { Description = "App name (unique on the device).", Required = true };

        private static readonly Option<string> Image = new("--image")
        {
            Description = "OCI image reference, e.g. 127.0.0.1:5000/hello:1 or busybox; with --vm the disk artifact `outpost image push-disk` pushed, or the http(s) URL of a disk image on an http datastore.",
            Required = true,
        };

        private static readonly Option<string?> Memory = new("--memory") { Description = "Memory, e.g. 256M or 1GiB (default 256M for a container, 512MiB for a VM)." };
        private static readonly Option<int?> Cpus = new("--cpus") { Description = "vCPUs (default 1)." };
        private static readonly Option<string[]> Env = new("--env") { Description = "Environment variable KEY=VALUE (repeatable; containers only)." };
        private static readonly Option<string?> Datastore = new("--datastore") { Description = "Datastore name (default: one matching the image's registry, or the one whose URL starts an http(s) --image)." };

        private static readonly Option<string> Restart = new("--restart")
        {
            Description = "What the device does when the app ends by itself: always (start it again, with a growing delay), on-failure (only after a non-zero exit) or never.",
            DefaultValueFactory = _ => "always",
        };

        private static readonly Option<string?> Isolation = new("--isolation")
        {
            Description = "Containers only: none (default; the container runs on the device's runc) or vm (it runs in a small VM of its own, EVE's VM isolation).",
        };

        private static readonly Option<bool> Vm = new("--vm") { Description = "Deploy a VM: --image names a disk artifact (qcow2, raw or iso) instead of a container image." };
        private static readonly Option<string?> CpuSet = new("--cpu-set") { Description = "VM only: host CPUs it runs on, a Linux CPU list such as 0-1 or 0-3,6." };
        private static readonly Option<bool> Uefi = new("--uefi") { Description = "VM only: boot with UEFI (OVMF) instead of legacy BIOS." };
        private static readonly Option<string?> DiskFormat = new("--disk-format") { Description = "VM only: the disk image's format, qcow2 (default; for an http(s) --image: from its extension .qcow2, .img/.raw or .iso), raw or iso (a read-only CD-ROM)." };
        private static readonly Option<string?> DiskSize = new("--disk-size", "--disk") { Description = "VM only: size of its writable disk, e.g. 8GiB (default: the image's size)." };
        private static readonly Option<string?> CloudInit = new("--cloud-init") { Description = "VM only: a cloud-init user-data FILE for the guest (NoCloud seed), at most 64 KiB." };
        private static readonly Option<bool> Vnc = new("--vnc") { Description = "VM only: offer its screen over VNC through the controller's remote console." };
        private static readonly Option<string[]> Usb = new("--usb") { Description = "VM only: pass a host USB device, VENDOR:PRODUCT (lsusb) or BUS:PORT (repeatable)." };
        private static readonly Option<string[]> Serial = new("--serial") { Description = "VM only: pass a host serial port, e.g. /dev/ttyS1 (repeatable)." };
        private static readonly Option<string[]> Pci = new("--pci") { Description = "VM only: pass a host PCI device with VFIO, e.g. 0000:03:00.0 (repeatable)." };
        private static readonly Option<string?> Kernel = new("--kernel") { Description = "VM only: boot this kernel directly, a raw disk artifact (`image push-disk VMLINUZ --format raw REF`) in the image's registry." };
        private static readonly Option<string?> Initrd = new("--initrd") { Description = "VM only: the initrd for --kernel, pushed the same way." };
        private static readonly Option<string?> KernelArgs = new("--kernel-args") { Description = "VM only: the kernel command line for --kernel (e.g. \"console=ttyS0 root=/dev/vda\")." };
        private static readonly Option<bool> ConsoleFlag = new("--console") { Description = "VM only: let operators open its serial console through the controller (`outpost app console`)." };

        private static readonly Argument<string[]> CommandArgs = new("command")
        {
            Description = "Command and arguments overriding the image's (after --; containers only).",
            Arity = ArgumentArity.ZeroOrMore,
        };

        static Deploy()
        {
            Restart.AcceptOnlyFromAmong("always", "on-failure", "never");
            DiskFormat.AcceptOnlyFromAmong("qcow2", "raw", "iso");
            Isolation.AcceptOnlyFromAmong("none", "vm");
        }

        public static Symbol[] Symbols { get; } = [Name, Image, Memory, Cpus, Env, Datastore, Restart, Isolation, Vm, CpuSet, Uefi, DiskFormat, DiskSize, CloudInit, Vnc, ConsoleFlag, Usb, Serial, Pci, Kernel, Initrd, KernelArgs, CommandArgs];

        /// <exception cref="CliException">A flag that makes no sense as given; the controller checks the values themselves.</exception>
        public static async Task<DeployAppRequest> RequestAsync(ParseResult parse, CancellationToken ct)
        {
            var memory = parse.GetValue(Memory);
            var common = new DeployAppRequest(parse.GetValue(Name)!, parse.GetValue(Image)!, null, null,
                ControllerCommand.ParsePairs(parse.GetValue(Env) ?? [], "--env"), parse.GetValue(CommandArgs) is { Length: > 0 } args ? args : null,
                parse.GetValue(Datastore), parse.GetValue(Restart));
            if (!parse.GetValue(Vm))
            {
                var vmOnly = new Option[] { CpuSet, Uefi, DiskFormat, DiskSize, CloudInit, Vnc, ConsoleFlag, Usb, Serial, Pci, Kernel, Initrd, KernelArgs }.Where(o => parse.GetResult(o) is { Implicit: false }).ToList();
                if (vmOnly.Count > 0)
                {
                    throw new CliException($"{string.Join(", ", vmOnly.Select(o => o.Name))} only apply to a VM; add --vm (and give --image a disk artifact).");
                }

                return common with { MemoryBytes = ParseSize(memory ?? "256M"), Cpus = parse.GetValue(Cpus) ?? 1, Isolation = parse.GetValue(Isolation) };
            }

            if (parse.GetResult(Isolation) is { Implicit: false })
            {
                throw new CliException("--isolation applies to a container image; a VM (--vm) is isolated already.");
            }

            return common with
            {
                Vm = new VmSettings(
                    memory is null ? null : WholeMiB(ParseSize(memory), memory),
                    parse.GetValue(Cpus),
                    parse.GetValue(CpuSet),
                    parse.GetValue(Uefi) ? "uefi" : "bios",
                    parse.GetValue(DiskFormat),
                    parse.GetValue(DiskSize) is { } size ? ParseSize(size) : null,
                    parse.GetValue(CloudInit) is { } file ? await ReadCloudInitAsync(file, ct) : null,
                    parse.GetValue(Vnc),
                    KernelArgs: parse.GetValue(KernelArgs),
                    RemoteConsole: parse.GetValue(ConsoleFlag),
                    Usb: NullIfEmpty(parse.GetValue(Usb)),
                    Serial: NullIfEmpty(parse.GetValue(Serial)),
                    Pci: NullIfEmpty(parse.GetValue(Pci)),
                    Kernel: parse.GetValue(Kernel),
                    Initrd: parse.GetValue(Initrd)),
            };
        }

        private static string[]? NullIfEmpty(string[]? values) => values is { Length: > 0 } ? values : null;

        private static long WholeMiB(long bytes, string text) =>
            bytes % MiB == 0 ? bytes / MiB : throw new CliException($"--memory {text} is not a whole number of MiB; a VM's memory is given in MiB, e.g. 512MiB or 2GiB.");

        private static async Task<string> ReadCloudInitAsync(string file, CancellationToken ct)
        {
            if (!File.Exists(file))
            {
                throw new CliException($"The --cloud-init file '{file}' does not exist; give the path of a cloud-init user-data file (e.g. one starting with #cloud-config).");
            }

            // The controller refuses more than 64 KiB; a file far beyond that is not user-data and is not worth uploading.
            if (new FileInfo(file).Length > 1024 * 1024)
            {
                throw new CliException($"The --cloud-init file '{file}' is over 1 MiB; user-data is at most 64 KiB (EVE's practical limit). Did you mean another file?");
            }

            return await File.ReadAllTextAsync(file, ct);
        }
    }

    private static string AppsPath(ParseResult parse) => $"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(DeviceOption)!)}/apps";

    /// <summary>A size in bytes from 256M, 1G, 8GiB, 2T or a plain byte count (binary units: K, M, G, T, each with an optional i and B).</summary>
    internal static long ParseSize(string text)
    {
        var trimmed = text.Trim().ToUpperInvariant();
        trimmed = trimmed.EndsWith("IB", StringComparison.Ordinal) ? trimmed[..^2] : trimmed.EndsWith('B') ? trimmed[..^1] : trimmed;
        var shift = trimmed.Length == 0 ? 0 : "KMGT".IndexOf(trimmed[^1]) switch { -1 => 0, var unit => (unit + 1) * 10 };
        var digits = shift == 0 ? trimmed : trimmed[..^1];
        return long.TryParse(digits, System.Globalization.NumberStyles.None, null, out var value) && value > 0 && value <= long.MaxValue >> shift
            ? value << shift
            : throw new CliException($"'{text}' is not a size; use e.g. 256M, 1GiB or 8G.");
    }
}
