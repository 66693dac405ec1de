using System.CommandLine;
using Outpost.Bench.DeviceLoad;

var devices = new Option<int>("--devices") { Description = "Simulated devices, each with its own key.", DefaultValueFactory = _ => 1000 };
var duration = new Option<int>("--duration") { Description = "Seconds of measured load.", DefaultValueFactory = _ => 30 };
var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight at most (and HTTP connections).", DefaultValueFactory = _ => 64 };
var controller = new Option<string?>("--controller") { Description = "Base URL of a running controller; without it one starts in this process." };
var tokenFile = new Option<string?>("--token-file") { Description = "Admin token file of the running controller (its DATA/admin.token)." };
var caFile = new Option<string?>("--ca-file") { Description = "PEM root certificate the running controller's TLS chains to." };

var root = new RootCommand("Plays a fleet of EVE devices against an Outpost controller: signed config polls (304) and info posts (201), 1:1.")
{
    devices, duration, concurrency, controller, tokenFile, caFile,
};
root.SetAction(async (parse, ct) =>
{
    try
    {
        var options = new LoadOptions(parse.GetValue(devices), TimeSpan.FromSeconds(parse.GetValue(duration)), parse.GetValue(concurrency),
            RemoteFrom(parse.GetValue(controller), parse.GetValue(tokenFile), parse.GetValue(caFile)));
        options.Validate();
        await DeviceLoadBenchmark.RunAsync(options, Console.Out, ct);
        return 0;
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine(e.Message);
        return 2;
    }
    catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException)
    {
        // A refused setup step or an unreachable controller: the message says which, a stack trace would not help.
        Console.Error.WriteLine($"device-load: {e.Message}");
        return 1;
    }
});
return await root.Parse(args).InvokeAsync();

static RemoteController? RemoteFrom(string? controller, string? tokenFile, string? caFile)
{
    if (controller is null)
    {
        return tokenFile is null && caFile is null
            ? null
            : throw new ArgumentException("--token-file and --ca-file only make sense with --controller.");
    }

    if (!Uri.TryCreate(controller, UriKind.Absolute, out var baseAddress) || baseAddress.Scheme != Uri.UriSchemeHttps)
    {
        throw new ArgumentException($"--controller must be an https:// URL, not '{controller}'.");
    }

    return tokenFile is null || caFile is null
        ? throw new ArgumentException("--controller needs --token-file and --ca-file as well.")
        : new RemoteController(baseAddress, tokenFile, caFile);
}
