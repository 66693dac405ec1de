using System.CommandLine;
using Outpost.Cli.Commands;
using Spectre.Console;

// Tables stay readable when output goes to a file or a pipe (CI logs, scripts).
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 200;
    AnsiConsole.Profile.Capabilities.Ansi = false;
}

// One binary, several roles (like k3s): controller, agent, demo, and admin commands that talk to a controller.
var root = new RootCommand("Outpost: an edge virtualization engine speaking the EVE device API v2.");
root.Subcommands.Add(ControllerCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(OnboardingCommand.Create());
root.Subcommands.Add(DeviceCommand.Create());
root.Subcommands.Add(AppCommand.Create());
root.Subcommands.Add(AppCommand.CreateDatastore());
root.Subcommands.Add(ImageCommand.Create());
return await root.Parse(args).InvokeAsync();
