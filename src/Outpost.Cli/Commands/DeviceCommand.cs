using System.CommandLine;
using System.Text.Json;
using Outpost.Cli.Admin;
using Outpost.Controller.AdminApi;
using Outpost.Controller.OsImages;
using Spectre.Console;

namespace Outpost.Cli.Commands;

/// <summary>`outpost device list|show|delete|reboot|shutdown|update|rollback|commit|config|logs|metrics`.</summary>
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

        command.Subcommands.Add(CreateUpdateCommand(device));
        command.Subcommands.Add(Admin("rollback", "Boot the device back into its other (previous) OS slot: bumps config item force.fallback.counter (EVE's forced fallback).",
            [device], async (admin, parse, ct) =>
            {
                var view = await admin.PostAsync<OsCounterView>($"{OsPath(parse, device)}/rollback", new { }, ct);
                Console.WriteLine($"Rollback requested ({view.Name} {view.Counter}); the device acts at its next config poll.");
                if (view.Note is { } note)
                {
                    Console.WriteLine(note);
                }

                return 0;
            }));
        command.Subcommands.Add(Admin("commit", "Commit an OS update held for a manual commit (--manual-commit): bumps config item outpost.baseos.commit.counter.",
            [device], async (admin, parse, ct) =>
            {
                var view = await admin.PostAsync<OsCounterView>($"{OsPath(parse, device)}/commit", new { }, ct);
                Console.WriteLine(view.Note ?? $"Commit requested ({view.Name} {view.Counter}); the device commits its update at its next config poll once the test window has passed.");
                return 0;
            }));
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

    /// <summary>`outpost device update DEVICE --version V | --retry | --clear`: the device's desired base OS (EdgeDevConfig.baseos).</summary>
    private static Command CreateUpdateCommand(Argument<string> device)
    {
        var version = new Option<string?>("--version") { Description = "The OS version to run (pushed with `outpost os push`; `outpost os list` shows them)." };
        var manualCommit = new Option<bool>("--manual-commit") { Description = "Hold the commit after the test window until `outpost device commit` (config item outpost.baseos.manual.commit)." };
        var downloadOnly = new Option<bool>("--download-only") { Description = "Download and verify, but do not install (EVE's activate=false)." };
        var datastore = new Option<string?>("--datastore") { Description = "Fetch it through this datastore (default: the controller's own registry as devices reach it)." };
        var retry = new Option<bool>("--retry") { Description = "Try the desired version again after it failed (bumps baseos.retry_update.counter)." };
        var clear = new Option<bool>("--clear") { Description = "Remove the desired OS: the device keeps the OS it runs." };
        return Admin("update", "Set the OS version a device should run (an A/B update with a test window and automatic fallback).",
            [device, version, manualCommit, downloadOnly, datastore, retry, clear], async (admin, parse, ct) =>
            {
                var wanted = parse.GetValue(version);
                if ((wanted is not null ? 1 : 0) + (parse.GetValue(retry) ? 1 : 0) + (parse.GetValue(clear) ? 1 : 0) != 1)
                {
                    throw new CliException("Give one of --version V (update to V), --retry (try the desired version again) or --clear (no desired OS).");
                }

                if (wanted is null && (parse.GetValue(manualCommit) || parse.GetValue(downloadOnly) || parse.GetValue(datastore) is not null))
                {
                    throw new CliException("--manual-commit, --download-only and --datastore go with --version.");
                }

                var path = OsPath(parse, device);
                var name = parse.GetValue(device)!;
                if (parse.GetValue(retry))
                {
                    var counter = await admin.PostAsync<OsCounterView>($"{path}/retry", new { }, ct);
                    Console.WriteLine($"Retry requested ({counter.Name} {counter.Counter}); the device tries its desired version again at its next config poll.");
                    return 0;
                }

                if (parse.GetValue(clear))
                {
                    await admin.DeleteAsync(path, ct);
                    Console.WriteLine($"{name} has no desired OS any more; it keeps the one it runs.");
                    return 0;
                }

                var request = new SetDeviceOsRequest(wanted!, parse.GetValue(manualCommit), parse.GetValue(downloadOnly), parse.GetValue(datastore));
                var view = await admin.SendJsonAsync<DeviceOsView>(HttpMethod.Put, path, request, ct);
                var desired = view.Desired!;
                var how = !desired.Activate ? "download and verify only" : desired.ManualCommit ? "install, then wait for `outpost device commit` after the test window" : "install, test and commit";
                Console.WriteLine($"{name} will run Outpost OS {desired.Version} ({how}; {desired.Url}@sha256:{desired.Sha256[..Math.Min(12, desired.Sha256.Length)]}). "
                    + $"It acts at its next config poll; follow it with `outpost device show {name}`.");
                return 0;
            });
    }

    private static string OsPath(ParseResult parse, Argument<string> device) =>
        $"api/admin/devices/{Uri.EscapeDataString(parse.GetValue(device)!)}/os";

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
            table.AddRow("Info time", Text(info, "atTimeStamp"));
        }
        else
        {
            table.AddRow("Info", "none received yet");
        }

        if (detail.TryGetProperty("os", out var os) && os.ValueKind == JsonValueKind.Object)
        {
            table.AddRow("Desired OS", Markup.Escape(DescribeDesiredOs(os)));
        }

        AnsiConsole.Write(table);
        if (detail.TryGetProperty("os", out os) && os.TryGetProperty("slots", out var slots) && slots.ValueKind == JsonValueKind.Array && slots.GetArrayLength() > 0)
        {
            // One row per A/B slot as the device reports it (EVE's swList: the running one first).
            var slotTable = new Table().AddColumns("Slot", "State", "Running", "Version", "Status", "User status", "Sub-status", "Download", "Error");
            foreach (var slot in slots.EnumerateArray())
            {
                var download = slot.TryGetProperty("downloadProgress", out var percent) && percent.ValueKind == JsonValueKind.Number && percent.GetUInt32() > 0 ? $"{percent}%" : "-";
                slotTable.AddRow(Markup.Escape(OrDash(Text(slot, "label"))), Markup.Escape(OrDash(Text(slot, "partitionState"))),
                    slot.TryGetProperty("activated", out var activated) && activated.ValueKind == JsonValueKind.True ? "yes" : "no",
                    Markup.Escape(Text(slot, "shortVersion")), Markup.Escape(Text(slot, "status")), Markup.Escape(Text(slot, "userStatus")),
                    Markup.Escape(DescribeSubStatus(slot)), download, Markup.Escape(Text(slot, "error") is var error && error != "-" ? error : ""));
            }

            AnsiConsole.Write(slotTable);
        }

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

    private static string OrDash(string text) => text.Length == 0 ? "-" : text;

    private static string DescribeDesiredOs(JsonElement os)
    {
        if (!os.TryGetProperty("desired", out var desired) || desired.ValueKind != JsonValueKind.Object)
        {
            return "none (the device keeps the OS it runs)";
        }

        var how = desired.TryGetProperty("activate", out var activate) && activate.ValueKind == JsonValueKind.False ? "download only"
            : desired.TryGetProperty("manualCommit", out var manual) && manual.ValueKind == JsonValueKind.True ? "manual commit" : "install and commit";
        var updated = os.TryGetProperty("reportedUpdateCounter", out var reported) && reported.ValueKind == JsonValueKind.Number ? $", device at retry counter {reported}" : "";
        return $"{Text(desired, "version")} ({how}; retry counter {Text(desired, "retryCounter")}{updated}; commit counter {Text(os, "commitCounter")}, fallback counter {Text(os, "fallbackCounter")})";
    }

    /// <summary>EVE's sub-status with its progress: percent while downloading, seconds left while testing.</summary>
    private static string DescribeSubStatus(JsonElement slot)
    {
        var sub = Text(slot, "subStatus");
        var progress = slot.TryGetProperty("subStatusProgress", out var value) && value.ValueKind == JsonValueKind.Number ? value.GetUInt32() : 0;
        var text = sub switch
        {
            "NONE_SUBSTATUS" => "",
            "DOWNLOAD_INPROGRESS" or "VERIFY_INPROGRESS" => $"{sub} {progress}%",
            "UPDATE_TESTING" or "UPDATE_NEED_TEST_CONFIRM" when progress > 0 => $"{sub} ({progress} s left)",
            _ => sub,
        };
        var words = Text(slot, "subStatusText");
        return words is "-" or "" ? text : $"{text}: {words}".TrimStart(':', ' ');
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
