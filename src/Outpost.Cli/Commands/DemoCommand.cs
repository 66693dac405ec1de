using System.CommandLine;
using Outpost.Cli.Demo;

namespace Outpost.Cli.Commands;

/// <summary>`outpost demo [--data DIR] [--once]`: the main job in one command.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Data folder for the controller and the device.", DefaultValueFactory = _ => "./outpost-demo" };
        var port = new Option<int>("--port") { Description = "Controller port (0 picks a free one).", DefaultValueFactory = _ => 0 };
        var serial = new Option<string>("--serial") { Description = "Serial number of the demo device.", DefaultValueFactory = _ => "demo-0001" };
        var once = new Option<bool>("--once") { Description = "Exit once the device is online (for scripts)." };
        var command = new Command("demo", "Start a local controller and an onboarded device agent, show the device, keep running until Ctrl-C.")
        {
            data, port, serial, once,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() =>
            new DemoRunner(Path.GetFullPath(parse.GetValue(data)!), parse.GetValue(port), parse.GetValue(serial)!, Console.Out)
                .RunAsync(parse.GetValue(once), ct)));
        return command;
    }
}
