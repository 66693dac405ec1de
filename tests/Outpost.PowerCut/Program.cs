using Outpost.Disk;
using Outpost.PowerCut;

// The A/B update power-cut harness. Modes:
//   run DISK [--mutant]           the child: the update scenario on a disk image file, one "phase NAME" line per phase
//   make-disk PATH [--esp-mib M]  writes the fresh scenario disk
//   check DISK                    judges one disk image state
//   kill   [--cuts N] [--seed S] [--parallel P] [--esp-mib M]   SIGKILL the child at N random points
//   replay [--cuts N] [--seed S] [--torn] [--no-exhaustive] [--esp-mib M] [--mutant]   rebuild the states a power loss can leave
// --mutant runs a deliberately unsafe installer (marked updating before the rootfs is written): the harness must fail it.
// Exit code 0 when every state booted, verified and converged; 1 when one did not; 2 for bad arguments.

if (args.Length == 0)
    return Usage();

switch (args[0])
{
    case "run" when args.Length is 2 or 3:
        {
            using var disk = DiskStream.OpenReadWrite(args[1]);
            var variant = args.Length == 3 && args[2] == "--mutant" ? ScenarioVariant.MarkBeforeRootfs : ScenarioVariant.Real;
            await DiskScenario.RunAsync(disk, phase => Console.Out.WriteLine($"phase {phase}"), variant);
            return 0;
        }
    case "make-disk" when args.Length >= 2:
        await File.WriteAllBytesAsync(args[1], DiskScenario.BuildDisk(Int(args, "--esp-mib", DiskScenario.DefaultEspMiB)));
        return 0;
    case "check" when args.Length == 2:
        {
            var result = CrashChecker.Check(await File.ReadAllBytesAsync(args[1]), "given");
            Console.WriteLine(result.Ok ? $"ok: {CrashChecker.Describe(await File.ReadAllBytesAsync(args[1]))}" : $"FAIL: {result.Detail}");
            return result.Ok ? 0 : 1;
        }
    case "kill":
        {
            var report = await KillHarness.RunAsync(new KillOptions(Int(args, "--cuts", 1000), Int(args, "--seed", 1), Int(args, "--parallel", 0), Int(args, "--esp-mib", DiskScenario.DefaultEspMiB)), Console.Out);
            Console.Write(report);
            return report.Clean ? 0 : 1;
        }
    case "replay":
        {
            var report = await ReplayHarness.RunAsync(new ReplayOptions(Int(args, "--cuts", 5000), Int(args, "--seed", 1), !args.Contains("--no-exhaustive"), args.Contains("--torn"),
                Int(args, "--esp-mib", DiskScenario.DefaultEspMiB), Int(args, "--parallel", 0), args.Contains("--mutant") ? ScenarioVariant.MarkBeforeRootfs : ScenarioVariant.Real), Console.Out);
            Console.Write(report);
            return report.Clean ? 0 : 1;
        }
    default:
        return Usage();
}

static int Int(string[] args, string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var value) ? value : fallback;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Outpost.PowerCut run DISK | make-disk PATH [--esp-mib M] | check DISK | kill [--cuts N] [--seed S] [--parallel P] | replay [--cuts N] [--seed S] [--torn] [--no-exhaustive]");
    return 2;
}
