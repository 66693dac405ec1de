using System.CommandLine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Outpost.Agent;
using Outpost.Device.Init;

// The device binary of an Outpost OS image, published Native AOT: PID 1 (`init`, also what the kernel runs as
// /sbin/init), the agent role PID 1 starts, and udhcpc's hook. The CLI user's `outpost agent` is the same agent.
if (Environment.ProcessId == 1)
{
    return await new InitProgram().RunAsync();
}

var init = new Command("init", "PID 1 of an Outpost OS image (refuses to run as any other process).");
init.SetAction(_ =>
{
    Console.Error.WriteLine("error: init runs only as PID 1, which the kernel starts from /sbin/init on an Outpost OS image.");
    return 1;
});

var dhcpAction = new Argument<string>("event") { Description = "udhcpc's event: deconfig, bound, renew, leasefail, nak." };
var dhcpHook = new Command("dhcp-hook", "udhcpc's script: applies a DHCP lease (interface, ip, subnet, router, dns from the environment).") { dhcpAction };
dhcpHook.Hidden = true;
dhcpHook.SetAction((parse, ct) => DhcpHook.RunAsync(parse.GetValue(dhcpAction)!, ct));

var agent = AgentCommandLine.Create(async (options, level, ct) =>
{
    using var loggerFactory = LoggerFactory.Create(logging => logging.SetMinimumLevel(level).AddSimpleConsole(console =>
    {
        // PID 1 prefixes each line with its source and timestamps it in /persist/log.
        console.SingleLine = true;
        console.ColorBehavior = LoggerColorBehavior.Disabled;
    }));
    try
    {
        return await AgentHost.RunAsync(options, loggerFactory, ct);
    }
    catch (OnboardingException e)
    {
        await Console.Error.WriteLineAsync($"error: {e.Message}");
        return 1;
    }
});

// Local mode: `outpost-device os update --check|--apply|--rollback --url URL`, handled by the running agent.
var os = new Command("os", "This device's OS.") { Outpost.Agent.BaseOs.OsUpdateCommandLine.Create() };
var root = new RootCommand("outpost-device: PID 1 and the agent of an Outpost OS image.") { init, agent, dhcpHook, os };
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromMinutes(2) });
