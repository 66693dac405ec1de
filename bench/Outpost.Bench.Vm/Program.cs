using System.Diagnostics;
using System.Globalization;
using System.Text;
using Outpost.Agent.Bus;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;

// VM figures for the closing note, through the agent's own QemuDriver under real QEMU, with the test guest:
//   1. prepare → RUNNING (QMP "running") and → the guest's ready line, for a cached base image, per accelerator;
//   2. QEMU's memory beyond guest RAM: RSS outside the guest-RAM mapping (/proc/PID/smaps), and PSS;
//   3. N VMs prepared from one base: bytes their overlays take on disk against N full copies;
//   4. a container isolated in a VM (the container VM kit, 9p root) against the same container on runc: prepare →
//      RUNNING → its first line of output, and the container VM's QEMU memory.
// Usage: Outpost.Bench.Vm [vms=10] [guest-MiB=256]
var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
var guestMiB = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 256;
var root = Directory.CreateTempSubdirectory("outpost-bench-vm-").FullName;
var ct = CancellationToken.None;
try
{
    var guest = await TestGuest.BuildAsync(ct);
    // A base disk with real content (not a sparse hole), as a downloaded image is.
    var basePath = Path.Combine(root, "base.raw");
    var block = new byte[1024 * 1024];
    Random.Shared.NextBytes(block);
    await using (var file = File.Create(basePath))
    {
        for (var i = 0; i < 64; i++)
        {
            await file.WriteAsync(block, ct);
        }
    }

    var kvm = KvmSupport.Probe();
    var accelerators = new List<QemuAccelChoice> { new(QemuAccelerator.Tcg, "benchmark") };
    if (kvm.Usable)
    {
        accelerators.Add(new QemuAccelChoice(QemuAccelerator.Kvm, "benchmark"));
    }
    else
    {
        Console.WriteLine($"KVM: not usable here ({kvm.Reason}); TCG only.");
    }

    foreach (var accelerator in accelerators)
    {
        var driver = new QemuDriver(new QemuDriverOptions(Path.Combine(root, "state-" + accelerator.Accelerator), accelerator));
        var id = Guid.NewGuid().ToString();
        var spec = Spec(id, Path.Combine(root, "apps", id), guest, basePath, guestMiB);
        var clock = Stopwatch.StartNew();
        await driver.PrepareAsync(spec, ct);
        var prepared = clock.Elapsed;
        await driver.StartAsync(id, ct);
        var running = clock.Elapsed;
        await WaitForConsoleAsync(driver, id, TestGuest.ReadyLine, ct);
        var ready = clock.Elapsed;
        var pid = (await driver.GetStatusAsync(id, ct)).Pid!.Value;
        var (rss, guestRss, pss) = Memory(pid, guestMiB * 1024L * 1024);
        Console.WriteLine($"{accelerator.Accelerator}: prepare {prepared.TotalMilliseconds:F0} ms, → RUNNING {running.TotalMilliseconds:F0} ms, → guest ready {ready.TotalSeconds:F1} s");
        Console.WriteLine($"{accelerator.Accelerator}: QEMU RSS {rss / 1024} KiB for a {guestMiB} MiB guest: {guestRss / 1024} KiB of guest RAM touched, "
            + $"{(rss - guestRss) / 1024} KiB of QEMU's own (overhead), PSS {pss / 1024} KiB");
        await driver.StopAsync(id, TimeSpan.FromSeconds(1), ct);
        await driver.DeleteAsync(id, ct);
    }

    // The same busybox container on runc and isolated in a VM: what the isolation costs in start time and memory.
    var kit = await Outpost.Image.Initramfs.ContainerVmKit.BuildAsync(Path.Combine(root, "kit"), cancellationToken: ct);
    var image = Path.Combine(root, "image");
    Directory.CreateDirectory(Path.Combine(image, "bin"));
    File.Copy(TestGuest.BusyboxPath, Path.Combine(image, "bin", "busybox"));
    File.CreateSymbolicLink(Path.Combine(image, "bin", "sh"), "busybox");
    File.CreateSymbolicLink(Path.Combine(image, "bin", "sleep"), "busybox");
    const string Up = "bench-container-up";
    WorkloadSpec Container(string id, VmWorkloadSpec? vm) =>
        new(id, "bench-box", [image], Path.Combine(root, "apps", id), new WorkloadProcess(
            new ImageProcessConfig(ValueList<string>.Empty, new[] { "/bin/sh", "-c", $"echo {Up}; while true; do sleep 1; done" }.ToValueList(), ValueList<string>.Empty, null, null)))
        {
            Limits = new WorkloadLimits(128L * 1024 * 1024, 1),
            Vm = vm,
        };

    var runc = new Outpost.Agent.Workloads.Runc.RuncDriver(new Outpost.Agent.Workloads.Runc.RuncDriverOptions(Path.Combine(root, "state-runc")));
    var boxes = new List<(IWorkloadDriver Driver, string Name, VmWorkloadSpec? Vm)>
    {
        (runc, "runc", null),
    };
    foreach (var accelerator in accelerators)
    {
        boxes.Add((new QemuDriver(new QemuDriverOptions(Path.Combine(root, "state-box-" + accelerator.Accelerator), accelerator) { ContainerVmKitDirectory = kit.Directory }),
            $"container VM ({accelerator.Accelerator})", new VmWorkloadSpec([]) { Container = true }));
    }

    TimeSpan? baseline = null;
    foreach (var (driver, name, vm) in boxes)
    {
        var id = Guid.NewGuid().ToString();
        var clock = Stopwatch.StartNew();
        await driver.PrepareAsync(Container(id, vm), ct);
        var prepared = clock.Elapsed;
        await driver.StartAsync(id, ct);
        var running = clock.Elapsed;
        await WaitForConsoleAsync(driver, id, Up, ct);
        var up = clock.Elapsed;
        baseline ??= up;
        var memory = vm is null ? "" : $", QEMU RSS {Memory((await driver.GetStatusAsync(id, ct)).Pid!.Value, 128L * 1024 * 1024).Rss / 1024} KiB for a 128 MiB guest";
        Console.WriteLine($"{name}: prepare {prepared.TotalMilliseconds:F0} ms, → RUNNING {running.TotalMilliseconds:F0} ms, → first output {up.TotalMilliseconds:F0} ms "
            + $"({up / baseline.Value:F1}× runc){memory}");
        await driver.StopAsync(id, TimeSpan.FromSeconds(5), ct);
        await driver.DeleteAsync(id, ct);
    }

    // N overlays on one base: what a fleet of identical VMs costs on disk.
    var many = new QemuDriver(new QemuDriverOptions(Path.Combine(root, "state-many"), accelerators[0]));
    long overlays = 0;
    for (var i = 0; i < count; i++)
    {
        var id = Guid.NewGuid().ToString();
        var writable = Path.Combine(root, "many", id);
        await many.PrepareAsync(Spec(id, writable, guest, basePath, guestMiB), ct);
        overlays += Directory.EnumerateFiles(writable, "*", SearchOption.AllDirectories).Sum(AllocatedBytes);
    }

    var baseBytes = AllocatedBytes(basePath);
    Console.WriteLine($"{count} VMs from one {baseBytes / (1024 * 1024)} MiB base: overlays take {overlays / 1024} KiB in all "
        + $"(+ the base once: {(baseBytes + overlays) / 1024} KiB) against {count * baseBytes / 1024} KiB for {count} full copies: "
        + $"{(double)count * baseBytes / (baseBytes + overlays):F1}× less");
    foreach (var id in await many.ListAsync(ct))
    {
        await many.DeleteAsync(id, ct);
    }
}
finally
{
    Directory.Delete(root, recursive: true);
}

static WorkloadSpec Spec(string id, string writable, TestGuestFiles guest, string basePath, int guestMiB) =>
    new(id, "bench-vm", [], writable, new WorkloadProcess(
        new ImageProcessConfig(ValueList<string>.Empty, ValueList<string>.Empty, ValueList<string>.Empty, null, null)))
    {
        Limits = new WorkloadLimits(guestMiB * 1024L * 1024, 1),
        Vm = new VmWorkloadSpec([new VmDisk(basePath, VmDiskFormat.Raw, 0)])
        {
            KernelBoot = new QemuKernelBoot(guest.KernelPath, guest.InitrdPath, "console=ttyS0 quiet"),
            CloudInit = new NoCloudSeedContent(id, "bench-vm", "#cloud-config\n"u8.ToArray(), null),
        },
    };

static async Task WaitForConsoleAsync(IWorkloadDriver driver, string id, string text, CancellationToken ct)
{
    var seen = new StringBuilder();
    long offset = 0;
    var clock = Stopwatch.StartNew();
    while (!seen.ToString().Contains(text, StringComparison.Ordinal))
    {
        if (clock.Elapsed > TimeSpan.FromMinutes(5))
        {
            throw new TimeoutException($"no '{text}' within 5 minutes:\n{seen}");
        }

        await foreach (var chunk in driver.ReadConsoleAsync(id, offset, ct))
        {
            seen.Append(Encoding.UTF8.GetString(chunk.Data.Span));
            offset = chunk.NextOffset;
        }

        await Task.Delay(50, ct);
    }
}

// Total RSS, the RSS of the guest-RAM mapping (the anonymous mapping as large as the guest's RAM), and PSS, in bytes.
static (long Rss, long GuestRss, long Pss) Memory(int pid, long guestBytes)
{
    long rss = 0, guestRss = 0, pss = 0, size = 0;
    foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 3 && parts[2] == "kB")
        {
            var bytes = long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
            switch (parts[0])
            {
                case "Size:":
                    size = bytes;
                    break;
                case "Rss:":
                    rss += bytes;
                    if (size == guestBytes)
                    {
                        guestRss += bytes;
                    }

                    break;
                case "Pss:":
                    pss += bytes;
                    break;
            }
        }
    }

    return (rss, guestRss, pss);
}

static long AllocatedBytes(string path)
{
    using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%b %B", path]) { RedirectStandardOutput = true })!;
    var fields = stat.StandardOutput.ReadToEnd().Split(' ', StringSplitOptions.RemoveEmptyEntries);
    stat.WaitForExit();
    return long.Parse(fields[0], CultureInfo.InvariantCulture) * long.Parse(fields[1], CultureInfo.InvariantCulture);
}
