using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Outpost.Controller;
using Outpost.Controller.Pki;

namespace Outpost.Cli.Commands;

/// <summary>`outpost controller --data DIR --listen 127.0.0.1:PORT`.</summary>
internal static class ControllerCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Data directory (PKI, admin token, database).", DefaultValueFactory = _ => "./outpost-data" };
        var listen = new Option<string>("--listen") { Description = "Address and port to serve HTTPS on.", DefaultValueFactory = _ => "127.0.0.1:8443" };
        var store = new Option<string?>("--store") { Description = "Store: 'sqlite' (default, a file in --data) or 'sqlite:/path/file.db'." };
        var requireTpm = new Option<bool>("--require-tpm") { Description = "Refuse integrity tokens to devices without a TPM." };
        var defaultItems = new Option<string[]>("--default-config-item") { Description = "Config item KEY=VALUE every new device starts with (repeatable), e.g. timer.config.interval=10." };
        var advertise = new Option<string?>("--advertise")
        {
            Description = "Comma-separated DNS names and IP addresses devices reach this controller by, e.g. controller.example.net,10.0.2.2: "
                + "added to the TLS certificate (re-issued from the same root when they change), the first written to new devices' server file. "
                + "Left out, the names of the previous start are kept.",
        };
        var verbose = new Option<bool>("--verbose") { Description = "Log debug details." };
        var command = new Command("controller", "Run a controller: EVE device API v2 and the admin API over HTTPS.")
        {
            data, listen, store, requireTpm, defaultItems, advertise, verbose,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var options = new ControllerOptions(Path.GetFullPath(parse.GetValue(data)!), ParseEndpoint(parse.GetValue(listen)!))
            {
                StoreConnection = parse.GetValue(store),
                AllowDevicesWithoutTpm = !parse.GetValue(requireTpm),
                DefaultConfigItems = ParsePairs(parse.GetValue(defaultItems) ?? [], "--default-config-item"),
                Advertise = parse.GetValue(advertise) is { } names ? AdvertisedNames.Parse(names) : null,
            };
            var level = parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information;
            await using var host = await ControllerHost.StartAsync(options, logging => CliLogging.Configure(logging, level), ct);
            Console.WriteLine($"Outpost controller listening on {host.BaseAddress} (device API {host.BaseAddress}api/v2/edgedevice/, admin API {host.BaseAddress}api/admin/)");
            Console.WriteLine($"Admin token: {host.AdminTokenPath}; root certificate: {Path.Combine(options.PkiDirectory, "root-certificate.pem")}");
            if (host.Pki.AdvertisedNames.Count > 0)
            {
                Console.WriteLine($"Advertised: {string.Join(", ", host.Pki.AdvertisedNames)} (new devices' server: {AdvertisedNames.ServerAddress(host.Pki.AdvertisedNames[0], host.BaseAddress.Port)})");
            }
            try
            {
                await host.WaitForShutdownAsync(ct);
            }
            catch (OperationCanceledException)
            {
            }

            return 0;
        }));
        return command;
    }

    internal static Dictionary<string, string> ParsePairs(IEnumerable<string> pairs, string option)
    {
        var result = new Dictionary<string, string>();
        foreach (var pair in pairs)
        {
            var split = pair.IndexOf('=');
            if (split <= 0)
            {
                throw new CliException($"{option} '{pair}' is not KEY=VALUE.");
            }

            result[pair[..split]] = pair[(split + 1)..];
        }

        return result;
    }

    public static IPEndPoint ParseEndpoint(string text)
    {
        if (IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port > 0 || text.EndsWith(":0", StringComparison.Ordinal) && IPEndPoint.TryParse(text, out endpoint))
        {
            return endpoint!;
        }

        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase) && int.TryParse(text["localhost:".Length..], out var port))
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        throw new CliException($"--listen '{text}' is not ADDRESS:PORT (for example 127.0.0.1:8443).");
    }
}
