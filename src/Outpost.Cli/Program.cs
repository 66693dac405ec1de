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
root.Subcommands.Add(OsCommand.Create());
root.Subcommands.Add(LabCommand.Create());
// On Ctrl-C or SIGTERM, System.CommandLine cancels the command's token and, by default, abandons it after 2 s. The
// agent and the controller need longer to stop cleanly (an app's stop grace, a flush); their hosts bound their own
// shutdown, so the CLI waits for them.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromMinutes(10) };
return await root.Parse(args).InvokeAsync(invocation);
