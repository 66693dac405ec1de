using System.CommandLine;
using System.Text.Json;
using Outpost.Cli.Admin;
using Outpost.Controller.AdminApi;
using Spectre.Console;

namespace Outpost.Cli.Commands;

/// <summary>`outpost device list|show|delete|reboot|shutdown|config|logs|metrics`.</summary>
internal static class DeviceCommand
{
    private static readonly JsonSerializerOptions Indented = new(JsonSerializerOptions.Web) { WriteIndented = true };

    public static Command Create()
    {
        var command = new Command("device", "Inspect and configure devices registered with a controller.");
        command.Subcommands.Add(Admin("list", "List devices.", [], async (admin, _, ct) =>
        {
            RenderDeviceList(await admin.GetAsync<List<DeviceView>>("api/admin/devices", ct));
            return 0;
        }));

        var device = new Argument<string>("device") { Description = "Device UUID or serial number." };
        var json = new Option<bool>("--json") { Description = "Print the raw JSON." };
        command.Subcommands.Add(Admin("show", "Show a device with its latest info.", [device, json], async (admin, parse, ct) =>
        {
            var detail = await admin.GetJsonAsync($"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(device)!)}", ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(detail, Indented));
            }
            else
            {
                RenderDeviceDetail(detail);
            }

            return 0;
        }));
        command.Subcommands.Add(Admin("delete", "Delete a device (it may register again with its onboarding certificate).", [device], async (admin, parse, ct) =>
        {
            await admin.DeleteAsync($"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(device)!)}", ct);
            Console.WriteLine("Deleted.");
            return 0;
        }));
        foreach (var (operation, what) in new[]
        {
            ("reboot", "Reboot a device: it halts its apps cleanly, then reboots (EVE's DeviceOpsCmd reboot)."),
            ("shutdown", "Shut a device down: it halts all its apps and stays up, ready to be powered off, until told to reboot."),
        })
        {
            command.Subcommands.Add(Admin(operation, what, [device], async (admin, parse, ct) =>
            {
                var view = await admin.PostAsync<DeviceOperationView>($"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(device)!)}/{operation}", new { }, ct);
                Console.WriteLine(view.Note ?? $"{char.ToUpperInvariant(operation[0])}{operation[1..]} requested ({operation} counter {view.Counter}); the device acts at its next config poll.");
                return 0;
            }));
        }

        command.Subcommands.Add(CreateConfigCommand(device));

        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines as they arrive." };
        var app = new Option<string?>("--app") { Description = "Only this app instance's console lines." };
        var limit = new Option<int>("--limit") { Description = "Maximum entries.", DefaultValueFactory = _ => 200 };
        command.Subcommands.Add(Admin("logs", "Print a device's logs.", [device, follow, app, limit], async (admin, parse, ct) =>
        {
            var path = $"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(device)!)}/logs?limit={parse.GetValue(limit)}"
                + (parse.GetValue(app) is { } appId ? $"&app={Uri.EscapeDataString(appId)}" : "");
            if (parse.GetValue(follow))
            {
                await foreach (var line in admin.StreamLinesAsync(path + "&follow=true", ct))
                {
                    PrintLog(JsonSerializer.Deserialize<LogView>(line, JsonSerializerOptions.Web)!);
                }
            }
            else
            {
                foreach (var line in await admin.GetAsync<List<LogView>>(path, ct))
                {
                    PrintLog(line);
                }
            }

            return 0;
        }));
        command.Subcommands.Add(Admin("metrics", "Print a device's recent metrics.", [device, limit, json], async (admin, parse, ct) =>
        {
            var metrics = await admin.GetAsync<List<MetricView>>(
                $"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(device)!)}/metrics?limit={parse.GetValue(limit)}", ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(metrics, Indented));
                return 0;
            }

            var table = new Table().AddColumns("Device time", "CPU s", "Memory used MB", "Disk used MB", "Net rx bytes", "Net tx bytes");
            foreach (var metric in metrics)
            {
                var dm = metric.Message.TryGetProperty("dm", out var value) ? value : default;
                table.AddRow(metric.DeviceTimestamp.ToString("u"), Text(dm, "cpuMetric", "total"), Text(dm, "memory", "usedMem"),
                    Sum(dm, "disk", "used"), Sum(dm, "network", "rxBytes"), Sum(dm, "network", "txBytes"));
            }

            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command CreateConfigCommand(Argument<string> device)
    {
        var config = new Command("config", "Get or set a device's desired configuration.");
        config.Subcommands.Add(Admin("get", "Print the device's EdgeDevConfig as protobuf JSON.", [device], async (admin, parse, ct) =>
        {
            Console.WriteLine(JsonSerializer.Serialize(await admin.GetJsonAsync(ConfigPath(parse, device), ct), Indented));
            return 0;
        }));

        var item = new Option<string[]>("--item") { Description = "Set a config item KEY=VALUE (repeatable), e.g. timer.config.interval=10." };
        var remove = new Option<string[]>("--remove-item") { Description = "Remove a config item KEY (repeatable)." };
        var file = new Option<string?>("--file") { Description = "Replace the whole config with this EdgeDevConfig JSON file." };
        config.Subcommands.Add(Admin("set", "Change config items, or replace the config from a JSON file.", [device, item, remove, file], async (admin, parse, ct) =>
        {
            var items = parse.GetValue(item) ?? [];
            var removals = parse.GetValue(remove) ?? [];
            var path = ConfigPath(parse, device);
            if (parse.GetValue(file) is { } jsonFile)
            {
                await admin.PutRawJsonAsync(path, await File.ReadAllTextAsync(jsonFile, ct), ct);
            }
            else if (items.Length == 0 && removals.Length == 0)
            {
                throw new CliException("Nothing to set: give --item KEY=VALUE, --remove-item KEY or --file CONFIG.json.");
            }

            foreach (var pair in items)
            {
                var split = pair.IndexOf('=');
                if (split <= 0)
                {
                    throw new CliException($"--item '{pair}' is not KEY=VALUE.");
                }

                await admin.PutAsync($"{path}/items/{Uri.EscapeDataString(pair[..split])}", new ConfigItemValue(pair[(split + 1)..]), ct);
            }

            foreach (var key in removals)
            {
                await admin.DeleteAsync($"{path}/items/{Uri.EscapeDataString(key)}", ct);
            }

            Console.WriteLine("Config updated; the device picks it up at its next poll.");
            return 0;
        }));
        return config;
    }

    private static string ConfigPath(ParseResult parse, Argument<string> device) =>
        $"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(device)!)}/config";

    /// <summary>An admin command: resolves the controller, then runs the body with a client.</summary>
    internal static Command Admin(string name, string description, Symbol[] symbols, Func<AdminClient, ParseResult, CancellationToken, Task<int>> body)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
                case Option option:
                    command.Options.Add(option);
                    break;
            }
        }

        ControllerLocation.AddOptions(command);
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            using var admin = new AdminClient(ControllerLocation.Resolve(parse));
            return await body(admin, parse, ct);
        }));
        return command;
    }

    public static void RenderDeviceList(IReadOnlyList<DeviceView> devices)
    {
        var table = new Table().AddColumns("ID", "Serial", "Hostname", "State", "Attested", "Config", "Last seen");
        foreach (var device in devices)
        {
            table.AddRow(device.Id.ToString(), Markup.Escape(device.Serial), Markup.Escape(device.Hostname ?? "-"),
                device.Online ? "[green]online[/]" : "offline",
                device.Attested ? (device.AttestedWithoutTpm ? "yes (no TPM)" : "yes") : "no",
                device.ConfigVersion ?? "-", device.LastSeenAt?.ToString("u") ?? "never");
        }

        AnsiConsole.Write(table);
    }

    public static void RenderDeviceDetail(JsonElement detail)
    {
        var device = detail.GetProperty("device");
        var table = new Table().AddColumns("Field", "Value").HideHeaders();
        table.AddRow("ID", device.GetProperty("id").GetString()!);
        table.AddRow("Serial", Markup.Escape(device.GetProperty("serial").GetString()!));
        table.AddRow("State", device.GetProperty("online").GetBoolean() ? "online" : "offline");
        if (detail.TryGetProperty("deviceInfo", out var info) && info.ValueKind == JsonValueKind.Object && info.TryGetProperty("dinfo", out var dinfo))
        {
            table.AddRow("Hostname", Markup.Escape(Text(dinfo, "HostName")));
            table.AddRow("Architecture", Markup.Escape(Text(dinfo, "machineArch")));
            table.AddRow("Hardware", Markup.Escape($"{Text(dinfo, "minfo", "manufacturer")} {Text(dinfo, "minfo", "productName")} {Text(dinfo, "minfo", "version")}".Trim()));
            table.AddRow("CPUs", Text(dinfo, "ncpu"));
            table.AddRow("Memory MB", Text(dinfo, "memory"));
            table.AddRow("Storage MB", Text(dinfo, "storage"));
            table.AddRow("Boot time", Text(dinfo, "bootTime"));
            table.AddRow("Last boot", Markup.Escape($"{Text(dinfo, "lastBootReason")} {Text(dinfo, "lastRebootReason")}".Trim()));
            if (dinfo.TryGetProperty("swList", out var sw) && sw.ValueKind == JsonValueKind.Array)
            {
                // One row per A/B slot, as EVE lists them: the running one first, with the OS, agent and kernel it runs.
                foreach (var slot in sw.EnumerateArray())
                {
                    var running = slot.TryGetProperty("activated", out var activated) && activated.ValueKind == JsonValueKind.True;
                    table.AddRow($"Slot {Markup.Escape(Text(slot, "partitionLabel"))}", Markup.Escape(
                        $"{Text(slot, "partitionState")}{(running ? ", running" : "")} {Text(slot, "shortVersion")} {Text(slot, "partitionDevice")} {Text(slot, "longVersion")}".Trim()));
                }
            }

            table.AddRow("Info time", Text(info, "atTimeStamp"));
        }
        else
        {
            table.AddRow("Info", "none received yet");
        }

        AnsiConsole.Write(table);
        if (detail.TryGetProperty("objects", out var objects) && objects.GetArrayLength() > 0)
        {
            var objectTable = new Table().AddColumns("Kind", "Object", "Device time");
            foreach (var item in objects.EnumerateArray())
            {
                objectTable.AddRow(Markup.Escape(item.GetProperty("kind").GetString()!), Markup.Escape(item.GetProperty("object").GetString()!),
                    item.GetProperty("deviceTimestamp").GetString()!);
            }

            AnsiConsole.Write(objectTable);
        }
    }

    private static void PrintLog(LogView line) =>
        Console.WriteLine($"{line.DeviceTimestamp:yyyy-MM-ddTHH:mm:ss.fffZ} {line.Severity,-7} {(line.AppId is null ? line.Source : "app " + line.AppId)}: {line.Content}");

    private static string Text(JsonElement element, params string[] path)
    {
        foreach (var name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return "-";
            }
        }

        return element.ValueKind == JsonValueKind.String ? element.GetString()! : element.ToString();
    }

    private static string Sum(JsonElement dm, string array, string field)
    {
        if (dm.ValueKind != JsonValueKind.Object || !dm.TryGetProperty(array, out var items) || items.ValueKind != JsonValueKind.Array)
        {
            return "-";
        }

        double total = 0;
        foreach (var item in items.EnumerateArray())
        {
            if (item.TryGetProperty(field, out var value))
            {
                total += value.ValueKind == JsonValueKind.String ? double.Parse(value.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : value.GetDouble();
            }
        }

        return total.ToString("0", System.Globalization.CultureInfo.InvariantCulture);
    }
}
