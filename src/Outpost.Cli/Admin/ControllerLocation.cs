using System.CommandLine;
using Outpost.Cli.Commands;

namespace Outpost.Cli.Admin;

/// <summary>
/// Where the admin commands find the controller: --controller/--token-file/--ca-file, else the variables
/// OUTPOST_CONTROLLER / OUTPOST_TOKEN / OUTPOST_CA, else the local demo's controller under ./outpost-demo.
/// </summary>
internal sealed record ControllerLocation(Uri BaseAddress, string Token, string? CaFile)
{
    public const string DemoControllerDirectory = "outpost-demo/controller";

    public static readonly Option<string?> ControllerOption = new("--controller") { Description = "Controller base URL (default: $OUTPOST_CONTROLLER, else the local demo's)." };
    public static readonly Option<string?> TokenFileOption = new("--token-file") { Description = "File with the admin token (default: $OUTPOST_TOKEN, else the demo's admin.token)." };
    public static readonly Option<string?> CaFileOption = new("--ca-file") { Description = "Root certificate to trust for the controller's TLS (default: $OUTPOST_CA, else the demo's)." };

    public static void AddOptions(Command command)
    {
        command.Options.Add(ControllerOption);
        command.Options.Add(TokenFileOption);
        command.Options.Add(CaFileOption);
    }

    public static ControllerLocation Resolve(ParseResult parse) => Resolve(
        parse.GetValue(ControllerOption), parse.GetValue(TokenFileOption), parse.GetValue(CaFileOption), Path.GetFullPath(DemoControllerDirectory));

    public static ControllerLocation Resolve(string? controller, string? tokenFile, string? caFile, string demoDirectory)
    {
        controller ??= Environment.GetEnvironmentVariable("OUTPOST_CONTROLLER");
        var urlFile = Path.Combine(demoDirectory, "controller.url");
        if (controller is null && File.Exists(urlFile))
        {
            controller = File.ReadAllText(urlFile).Trim();
        }

        if (controller is null)
        {
            throw new CliException("No controller given: pass --controller URL (or set OUTPOST_CONTROLLER), or start the local demo with `outpost demo`.");
        }

        string token;
        if (tokenFile is not null)
        {
            token = ReadToken(tokenFile);
        }
        else if (Environment.GetEnvironmentVariable("OUTPOST_TOKEN") is { Length: > 0 } fromEnvironment)
        {
            token = fromEnvironment.Trim();
        }
        else if (File.Exists(Path.Combine(demoDirectory, "admin.token")))
        {
            token = ReadToken(Path.Combine(demoDirectory, "admin.token"));
        }
        else
        {
            throw new CliException("No admin token: pass --token-file FILE (the controller's admin.token) or set OUTPOST_TOKEN.");
        }

        caFile ??= Environment.GetEnvironmentVariable("OUTPOST_CA");
        var demoCa = Path.Combine(demoDirectory, "pki", "root-certificate.pem");
        if (caFile is null && File.Exists(demoCa))
        {
            caFile = demoCa;
        }

        if (!Uri.TryCreate(controller.EndsWith('/') ? controller : controller + "/", UriKind.Absolute, out var uri))
        {
            throw new CliException($"'{controller}' is not a URL; give it as https://HOST:PORT/.");
        }

        return new ControllerLocation(uri, token, caFile);
    }

    private static string ReadToken(string path) =>
        File.Exists(path) ? File.ReadAllText(path).Trim() : throw new CliException($"Token file '{path}' does not exist.");
}
