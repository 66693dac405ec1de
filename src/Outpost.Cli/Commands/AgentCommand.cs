using Outpost.Agent;

namespace Outpost.Cli.Commands;

/// <summary>`outpost agent --config CONFDIR --state STATEDIR`: the options are <see cref="AgentCommandLine"/>'s, shared with the device binary.</summary>
internal static class AgentCommand
{
    public static System.CommandLine.Command Create() => AgentCommandLine.Create((options, level, ct) => CliErrors.RunAsync(async () =>
    {
        using var loggerFactory = CliLogging.CreateFactory(level);
        return await AgentHost.RunAsync(options, loggerFactory, ct);
    }));
}
