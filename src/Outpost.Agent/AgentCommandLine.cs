using System.CommandLine;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Node;

namespace Outpost.Agent;

/// <summary>
/// The agent role's command line, defined once: `outpost agent` (the CLI, on any Linux host) and `outpost-device agent`
/// (the Native AOT device binary that PID 1 starts on an Outpost OS image) take the same options.
/// </summary>
public static class AgentCommandLine
{
    /// <param name="run">Runs the agent with the parsed options at the given log level (each binary brings its own logging and error display).</param>
    public static Command Create(Func<AgentOptions, LogLevel, CancellationToken, Task<int>> run)
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
        var heartbeat = new Option<string?>("--heartbeat") { Description = "File to touch every few seconds while the agent is healthy (the Outpost OS init pets the hardware watchdog on it)." };
        var kit = new Option<string?>("--container-vm-kit")
        {
            Description = $"Folder with the kernel and initrd for containers isolated in a VM (`outpost image container-vm-kit` builds one). Default: {Outpost.Api.ContainerVm.ContainerVmContract.DefaultKitDirectory}.",
        };
        var command = new Command("agent", "Run the device agent against the controller named in the config folder.") { config, state, once, verbose, power, stopApps, heartbeat, kit };
        command.SetAction((parse, ct) =>
        {
            var options = new AgentOptions(Path.GetFullPath(parse.GetValue(config)!), Path.GetFullPath(parse.GetValue(state)!))
            {
                ExitWhenOnline = parse.GetValue(once),
                Power = parse.GetValue(power) ?? (File.Exists("/etc/outpost-release") ? NodePowerMode.Host : NodePowerMode.Simulated),
                HeartbeatPath = parse.GetValue(heartbeat) is { } path ? Path.GetFullPath(path) : null,
            };
            options = options with
            {
                Apps = options.Apps with
                {
                    StopAppsOnExit = parse.GetValue(stopApps),
                    ContainerVmKitDirectory = parse.GetValue(kit) is { } folder ? Path.GetFullPath(folder) : null,
                },
            };
            return run(options, parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information, ct);
        });
        return command;
    }
}
