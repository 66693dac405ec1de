using System.CommandLine;
using Outpost.Cli.Commands;

namespace Outpost.Cli.Admin;

/// <summary>
/// Where the admin commands find the controller: --controller/--token-file/--ca-file, else the variables
/// OUTPOST_CONTROLLER / OUTPOST_TOKEN / OUTPOST_CA, else a local sandbox's controller in the working folder
/// (./outpost-demo or ./outpost-lab, see <see cref="FolderDefault"/>). Each of the three is looked up on its own.
/// </summary>
internal sealed record ControllerLocation(Uri BaseAddress, string Token, string? CaFile)
{
    public const string DemoControllerDirectory = "outpost-demo/controller";
    public const string LabControllerDirectory = "outpost-lab/controller";

    public static readonly Option<string?> ControllerOption = new("--controller") { Description = "Controller base URL (default: $OUTPOST_CONTROLLER, else the local demo's or lab's)." };
    public static readonly Option<string?> TokenFileOption = new("--token-file") { Description = "File with the admin token (default: $OUTPOST_TOKEN, else the local demo's or lab's admin.token)." };
    public static readonly Option<string?> CaFileOption = new("--ca-file") { Description = "Root certificate to trust for the controller's TLS (default: $OUTPOST_CA, else the local demo's or lab's)." };

    public static void AddOptions(Command command)
    {
        command.Options.Add(ControllerOption);
        command.Options.Add(TokenFileOption);
        command.Options.Add(CaFileOption);
    }

    public static ControllerLocation Resolve(ParseResult parse) => Resolve(
        parse.GetValue(ControllerOption), parse.GetValue(TokenFileOption), parse.GetValue(CaFileOption),
        FolderDefault(Environment.CurrentDirectory), Environment.GetEnvironmentVariable);

    /// <summary>
    /// The data folder of the local controller the working folder holds: the demo's when it has run here, else the
    /// lab's when it has. When both have, the demo's wins, as it did before the lab existed; the lab says so when it
    /// starts (reach the lab's with --controller or OUTPOST_CONTROLLER then). Neither: the demo's, for its hint.
    /// </summary>
    public static string FolderDefault(string workingDirectory)
    {
        var demo = Path.GetFullPath(DemoControllerDirectory, workingDirectory);
        var lab = Path.GetFullPath(LabControllerDirectory, workingDirectory);
        return File.Exists(Path.Combine(demo, "controller.url")) || !File.Exists(Path.Combine(lab, "controller.url")) ? demo : lab;
    }

    /// <summary>The controller whose data folder this is (a sandbox's own), whatever flags and variables say.</summary>
    public static ControllerLocation OfDataDirectory(string dataDirectory) => Resolve(null, null, null, dataDirectory, _ => null);

    public static ControllerLocation Resolve(string? controller, string? tokenFile, string? caFile, string folderDefault, Func<string, string?> environment)
    {
        controller ??= environment("OUTPOST_CONTROLLER");
        var urlFile = Path.Combine(folderDefault, "controller.url");
        if (controller is null && File.Exists(urlFile))
        {
            controller = File.ReadAllText(urlFile).Trim();
        }

        if (controller is null)
        {
            throw new CliException("No controller given: pass --controller URL (or set OUTPOST_CONTROLLER), or start a local one with `outpost demo` or `outpost lab up`.");
        }

        string token;
        if (tokenFile is not null)
        {
            token = ReadToken(tokenFile);
        }
        else if (environment("OUTPOST_TOKEN") is { Length: > 0 } fromEnvironment)
        {
            token = fromEnvironment.Trim();
        }
        else if (File.Exists(Path.Combine(folderDefault, "admin.token")))
        {
            token = ReadToken(Path.Combine(folderDefault, "admin.token"));
        }
        else
        {
            throw new CliException("No admin token: pass --token-file FILE (the controller's admin.token) or set OUTPOST_TOKEN.");
        }

        caFile ??= environment("OUTPOST_CA");
        var folderCa = Path.Combine(folderDefault, "pki", "root-certificate.pem");
        if (caFile is null && File.Exists(folderCa))
        {
            caFile = folderCa;
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
