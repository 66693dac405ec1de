using System.CommandLine;
using Microsoft.Extensions.Logging;
using Outpost.Agent;
using Outpost.Agent.Node;

namespace Outpost.Cli.Commands;

/// <summary>`outpost agent --config CONFDIR --state STATEDIR`.</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Config folder (EVE names: server, root-certificate.pem, onboard.cert.pem, onboard.key.pem, soft_serial).", Required = true };
        var state = new Option<string>("--state") { Description = "State folder (device key, outbox, last config).", Required = true };
        var once = new Option<bool>("--once") { Description = "Exit 0 once the device is online (config fetched, info delivered)." };
        var verbose = new Option<bool>("--verbose") { Description = "Log debug details." };
        var power = new Option<NodePowerMode?>("--power")
        {
            Description = "What a reboot command from the controller does: Host reboots this machine, Simulated stops the apps and exits with code 3. "
                + "Default: Host on an Outpost OS image (/etc/outpost-release), Simulated elsewhere.",
        };
        var stopApps = new Option<bool>("--stop-apps-on-exit") { Description = "Stop every app when the agent stops (by default apps keep running and the next agent run adopts them)." };
        var command = new Command("agent", "Run the device agent against the controller named in the config folder.") { config, state, once, verbose, power, stopApps };
        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            using var loggerFactory = CliLogging.CreateFactory(parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            var options = new AgentOptions(Path.GetFullPath(parse.GetValue(config)!), Path.GetFullPath(parse.GetValue(state)!))
            {
                ExitWhenOnline = parse.GetValue(once),
                Power = parse.GetValue(power) ?? (File.Exists("/etc/outpost-release") ? NodePowerMode.Host : NodePowerMode.Simulated),
            };
            options = options with { Apps = options.Apps with { StopAppsOnExit = parse.GetValue(stopApps) } };
            return await AgentHost.RunAsync(options, loggerFactory, ct);
        }));
        return command;
    }
}
