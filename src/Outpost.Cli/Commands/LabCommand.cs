using System.CommandLine;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Cli.Lab;

namespace Outpost.Cli.Commands;

/// <summary>`outpost lab up|list|console|down`: Outpost OS devices as QEMU VMs against a local controller (the Eden role).</summary>
internal static class LabCommand
{
    public static Command Create()
    {
        var directory = new Option<string>("--dir") { Description = "Lab folder (controller, image, devices).", DefaultValueFactory = _ => LabFolder.DefaultPath, Recursive = true };
        var command = new Command("lab", "Boot Outpost OS images as QEMU VMs, onboarded to the lab's own controller.") { directory };
        LabRunner Runner(ParseResult parse) => new(new LabFolder(parse.GetValue(directory)!), Console.Out);

        var name = new Option<string>("--name") { Description = "Device name, also its serial number.", DefaultValueFactory = _ => "dev1" };
        var image = new Option<string?>("--image") { Description = "live.raw to boot (copied, never changed); default: the example image, built once into the lab folder." };
        var accel = new Option<string>("--accel") { Description = "auto (KVM only where /dev/kvm opens and the CPU has vmx/svm), kvm or tcg.", DefaultValueFactory = _ => "auto" };
        var memory = new Option<int>("--memory") { Description = "Guest memory in MiB.", DefaultValueFactory = _ => 1024 };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the device to come online.", DefaultValueFactory = _ => 600 };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once QEMU runs, without waiting for the device to come online (images without an agent)." };
        var up = new Command("up", "Start the lab controller if needed, onboard a device, and boot it under QEMU until it is online.") { name, image, accel, memory, timeout, noWait };
        up.SetAction((parse, ct) => CliErrors.RunAsync(() => Runner(parse).UpAsync(
            new LabUpOptions(parse.GetValue(name)!, parse.GetValue(image), ParseAccel(parse.GetValue(accel)!), parse.GetValue(memory),
                TimeSpan.FromSeconds(parse.GetValue(timeout)), !parse.GetValue(noWait)), ct)));

        var list = new Command("list", "List lab devices: QEMU running or not, accelerator, serial, online in the controller.");
        list.SetAction((parse, ct) => CliErrors.RunAsync(() => Runner(parse).ListAsync(ct)));

        var device = new Argument<string>("name") { Description = "Lab device name." };
        var noFollow = new Option<bool>("--no-follow") { Description = "Print what is there and exit, instead of following while the VM runs." };
        var console = new Command("console", "Print a lab device's serial console, following it while the VM runs (Ctrl-C ends).") { device, noFollow };
        console.SetAction((parse, ct) => CliErrors.RunAsync(() => Runner(parse).ConsoleAsync(parse.GetValue(device)!, !parse.GetValue(noFollow), ct)));

        var optionalDevice = new Argument<string?>("name") { Description = "Lab device name.", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Every lab device, then the lab controller." };
        var purge = new Option<bool>("--purge") { Description = "Also delete the device folder (disk, logs) and its controller record." };
        var down = new Command("down", "Stop a lab device's VM (QMP quit); keeps its disk and serial log unless --purge.") { optionalDevice, all, purge };
        down.SetAction((parse, ct) => CliErrors.RunAsync(() => Runner(parse).DownAsync(parse.GetValue(optionalDevice), parse.GetValue(all), parse.GetValue(purge), ct)));

        command.Subcommands.Add(up);
        command.Subcommands.Add(list);
        command.Subcommands.Add(console);
        command.Subcommands.Add(down);
        return command;
    }

    private static QemuAccelRequest ParseAccel(string text) => text.ToLowerInvariant() switch
    {
        "auto" => QemuAccelRequest.Auto,
        "kvm" => QemuAccelRequest.Kvm,
        "tcg" => QemuAccelRequest.Tcg,
        _ => throw new CliException($"--accel '{text}' is not auto, kvm or tcg."),
    };
}
