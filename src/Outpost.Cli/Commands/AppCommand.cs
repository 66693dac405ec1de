using System.CommandLine;
using System.Text.Json;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Apps;
using Spectre.Console;

namespace Outpost.Cli.Commands;

/// <summary>`outpost app deploy|list|show|start|stop|restart|purge|delete|logs` and `outpost datastore add|list`.</summary>
internal static class AppCommand
{
    private static readonly Option<string> DeviceOption = new("--device") { Description = "Device UUID or serial.", Required = true };

    public static Command Create()
    {
        var command = new Command("app", "Deploy and manage container apps on devices.");
        var name = new Option<string>("--name") { Description = "App name (unique on the device).", Required = true };
        var image = new Option<string>("--image") { Description = "OCI image reference, e.g. 127.0.0.1:5000/hello:1 or busybox.", Required = true };
        var memory = new Option<string>("--memory") { Description = "Memory limit, e.g. 256M or 1G.", DefaultValueFactory = _ => "256M" };
        var cpus = new Option<int>("--cpus") { Description = "vCPUs.", DefaultValueFactory = _ => 1 };
        var env = new Option<string[]>("--env") { Description = "Environment variable KEY=VALUE (repeatable)." };
        var datastore = new Option<string?>("--datastore") { Description = "Datastore name (default: one matching the image's registry)." };
        var restart = new Option<string>("--restart")
        {
            Description = "What the device does when the app ends by itself: always (start it again, with a growing delay), on-failure (only after a non-zero exit) or never.",
            DefaultValueFactory = _ => "always",
        };
        restart.AcceptOnlyFromAmong("always", "on-failure", "never");
        var commandArgs = new Argument<string[]>("command") { Description = "Command and arguments overriding the image's (after --).", Arity = ArgumentArity.ZeroOrMore };
        command.Subcommands.Add(DeviceCommand.Admin("deploy", "Deploy a container app to a device.",
            [DeviceOption, name, image, memory, cpus, env, datastore, restart, commandArgs], async (admin, parse, ct) =>
            {
                var request = new DeployAppRequest(parse.GetValue(name)!, parse.GetValue(image)!, ParseSize(parse.GetValue(memory)!),
                    parse.GetValue(cpus), ControllerCommand.ParsePairs(parse.GetValue(env) ?? [], "--env"), parse.GetValue(commandArgs) is { Length: > 0 } args ? args : null,
                    parse.GetValue(datastore), parse.GetValue(restart));
                var view = await admin.PostAsync<AppView>(AppsPath(parse), request, ct);
                Console.WriteLine($"Deployed app {view.Name} ({view.Id}); the device picks it up at its next config poll. Watch: outpost app show {view.Name} --device {parse.GetValue(DeviceOption)}");
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
        command.Subcommands.Add(DeviceCommand.Admin("add", "Add or update a datastore.", [name, url, username, passwordFile, caFile], async (admin, parse, ct) =>
        {
            var password = parse.GetValue(passwordFile) is { } file ? (await File.ReadAllTextAsync(file, ct)).Trim() : null;
            var certificate = parse.GetValue(caFile) is { } ca ? await File.ReadAllTextAsync(ca, ct) : null;
            var view = await admin.PostAsync<DatastoreView>("api/admin/datastores",
                new CreateDatastoreRequest(parse.GetValue(name)!, parse.GetValue(url)!, parse.GetValue(username), password, certificate), ct);
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

    private static string AppsPath(ParseResult parse) => $"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(DeviceOption)!)}/apps";

    internal static long ParseSize(string text)
    {
        var trimmed = text.Trim().ToUpperInvariant().TrimEnd('B', 'I');
        long multiplier = trimmed.EndsWith('K') ? 1024 : trimmed.EndsWith('M') ? 1024 * 1024 : trimmed.EndsWith('G') ? 1024L * 1024 * 1024 : 1;
        var digits = multiplier == 1 ? trimmed : trimmed[..^1];
        return long.TryParse(digits, out var value) && value > 0
            ? value * multiplier
            : throw new CliException($"'{text}' is not a size; use e.g. 256M or 1G.");
    }
}
