using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Api.Signing;
using Outpost.Cli.Admin;
using Outpost.Cli.Commands;
using Outpost.Controller.AdminApi;
using Outpost.Controller.Pki;
using Outpost.Image.Build;
using Spectre.Console;

namespace Outpost.Cli.Lab;

/// <param name="Image">A live.raw to copy; null builds (once) and uses the example image.</param>
/// <param name="Wait">Wait for the device to come online; off only for images that cannot onboard (no agent yet).</param>
internal sealed record LabUpOptions(string Name, string? Image, QemuAccelRequest Accel, int MemoryMiB, TimeSpan Timeout, bool Wait);

/// <summary>
/// `outpost lab up|list|console|down` (EVE's Eden role): Outpost OS images booted as QEMU VMs against the lab's own
/// controller, each device onboarded with its own config folder written into its own copy of the image.
/// </summary>
internal sealed class LabRunner(LabFolder lab, TextWriter output)
{
    private const int SerialTailLines = 40;
    private static readonly TimeSpan ConsoleNoteEvery = TimeSpan.FromSeconds(30);

    public async Task<int> UpAsync(LabUpOptions options, CancellationToken ct)
    {
        var device = lab.Device(options.Name);
        if (LabMachine.RunningPid(device) is { } running)
        {
            throw new CliException($"{device.Name} is already running (QEMU pid {running}): `outpost lab console {device.Name}` shows its console, `outpost lab down {device.Name}` stops it.");
        }

        // Everything that can fail without side effects comes first, so a mistake leaves nothing running.
        var accel = KvmSupport.Choose(options.Accel, KvmSupport.Probe);
        output.WriteLine($"Accelerator: {Name(accel.Accelerator)} ({accel.Reason}).");
        var image = options.Image is { } given ? GivenImage(given) : await EnsureExampleImageAsync(ct);

        var location = await LabController.EnsureRunningAsync(lab, output, ct);
        NoteWhenAdminCommandsLookElsewhere(location);
        using var admin = new AdminClient(location);
        Directory.CreateDirectory(device.Directory);
        await OnboardAsync(admin, device, location.BaseAddress.Port, ct);
        await TrustSigningKeyAsync(device, ct);
        if (await new Demo.DemoApp(admin, lab.ControllerDirectory, output).PrepareAsync(location.BaseAddress.Port, ct, LabController.GuestHostAddress, Demo.DemoApp.LabDatastoreName))
        {
            output.WriteLine($"Sample app image: {LabController.GuestHostAddress}:{location.BaseAddress.Port}/{Demo.DemoSampleImage.Repository}:{Demo.DemoSampleImage.Tag} "
                + $"(datastore {Demo.DemoApp.LabDatastoreName}); deploy it with `outpost app deploy --device {device.Name} --name hello --image {LabController.GuestHostAddress}:{location.BaseAddress.Port}/{Demo.DemoSampleImage.Repository}:{Demo.DemoSampleImage.Tag}`.");
        }

        var record = LabDeviceRecord.Load(device);
        if (!File.Exists(device.Disk))
        {
            output.WriteLine($"Copying {image} to {device.Disk} (sparse, grown to {LabDisk.SizeBytes >> 30} GiB) ...");
            await LabDisk.CreateAsync(image, device.Disk, ct);
            record = null;
        }
        else
        {
            output.WriteLine($"Reusing {device.Disk}: the device keeps its state (`outpost lab down {device.Name} --purge` for a fresh one).");
        }

        // Written again only when the folder changed (a new port, a file added by hand): the guest may rely on what is there.
        var configHash = LabDisk.HashFolder(device.ConfigDirectory);
        if (record?.ConfigHash != configHash)
        {
            await LabDisk.WriteConfigAsync(device.Disk, device.ConfigDirectory, ct);
            output.WriteLine($"CONFIG partition written from {device.ConfigDirectory}.");
        }

        if (!File.Exists(device.OvmfVars))
        {
            File.Copy(QemuUefiFirmware.DebianVarsTemplate, device.OvmfVars);
        }

        await File.AppendAllTextAsync(device.SerialLog, $"{Environment.NewLine}=== outpost lab up {device.Name} at {DateTimeOffset.Now:u} ==={Environment.NewLine}", ct);
        var clock = Stopwatch.StartNew();
        var pid = await LabMachine.StartAsync(LabMachine.Spec(device, accel.Accelerator, options.MemoryMiB), ct);
        new LabDeviceRecord(device.Name, device.Name, Name(accel.Accelerator), accel.Reason, options.MemoryMiB, image, configHash, DateTimeOffset.UtcNow).Save(device);
        output.WriteLine($"Booting {device.Name}: QEMU pid {pid}, {Name(accel.Accelerator)}, {options.MemoryMiB} MiB, 2 CPUs; serial console {device.SerialLog}.");
        if (!options.Wait)
        {
            output.WriteLine($"Not waiting for {device.Name} to come online (--no-wait). Follow it: outpost lab console {device.Name}");
            return 0;
        }

        await WaitOnlineAsync(admin, device, clock, options.Timeout, ct);
        return 0;
    }

    public async Task<int> ListAsync(CancellationToken ct)
    {
        var devices = lab.Devices();
        var controllerPid = LabController.RunningPid(lab);
        List<DeviceView>? views = null;
        if (controllerPid is not null)
        {
            using var admin = new AdminClient(ControllerLocation.OfDataDirectory(lab.ControllerDirectory));
            views = await admin.GetAsync<List<DeviceView>>("api/admin/devices", ct);
        }

        output.WriteLine(controllerPid is { } pid
            ? $"Lab controller: running (pid {pid}) at {ControllerLocation.OfDataDirectory(lab.ControllerDirectory).BaseAddress}"
            : $"Lab controller: not running ({lab.ControllerDirectory})");
        if (devices.Count == 0)
        {
            output.WriteLine($"No lab devices in {lab.Root}; start one with `outpost lab up --name dev1`.");
            return 0;
        }

        var table = new Table().AddColumns("Name", "QEMU", "Accel", "Serial", "Controller");
        foreach (var device in devices)
        {
            var record = LabDeviceRecord.Load(device);
            var serial = record?.Serial ?? device.Name;
            var view = views?.FirstOrDefault(d => d.Serial == serial || d.SoftSerial == serial);
            var seen = views is null ? "controller not running"
                : view is null ? "not registered"
                : view.Online ? $"[green]online[/] (seen {Ago(view.LastSeenAt)})"
                : $"offline (last seen {Ago(view.LastSeenAt)})";
            table.AddRow(Markup.Escape(device.Name), LabMachine.RunningPid(device) is { } qemu ? $"running (pid {qemu})" : "stopped",
                record?.Accelerator ?? "-", Markup.Escape(serial), seen);
        }

        AnsiConsole.Write(table);
        return 0;
    }

    /// <summary>Prints the serial log; with <paramref name="follow"/>, keeps printing while the VM runs.</summary>
    public async Task<int> ConsoleAsync(string name, bool follow, CancellationToken ct)
    {
        var device = Existing(name);
        if (!File.Exists(device.SerialLog))
        {
            throw new CliException($"{name} has no serial log yet ({device.SerialLog}); start it with `outpost lab up --name {name}`.");
        }

        await using var log = new FileStream(device.SerialLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        await using var stdout = Console.OpenStandardOutput();
        try
        {
            while (true)
            {
                // Checked before the copy, so the last lines of a VM that just stopped are still printed.
                var running = LabMachine.RunningPid(device) is not null;
                await log.CopyToAsync(stdout, ct);
                await stdout.FlushAsync(ct);
                if (!follow || !running)
                {
                    return 0;
                }

                await Task.Delay(250, ct);
            }
        }
        catch (OperationCanceledException)
        {
            return 0;
        }
    }

    public async Task<int> DownAsync(string? name, bool all, bool purge, CancellationToken ct)
    {
        if (name is null == !all)
        {
            throw new CliException("Give one device NAME, or --all for every device and the lab controller.");
        }

        foreach (var device in all ? lab.Devices() : [Existing(name!)])
        {
            var clock = Stopwatch.StartNew();
            var pid = await LabMachine.StopAsync(device, ct);
            output.WriteLine(pid is { } stopped ? $"Stopped {device.Name} (QEMU pid {stopped}) in {clock.Elapsed.TotalSeconds:0.0} s." : $"{device.Name} was not running.");
            if (purge)
            {
                await PurgeAsync(device, ct);
            }
            else
            {
                output.WriteLine($"Kept {device.Directory} (disk, serial log, config folder): `outpost lab up --name {device.Name}` boots it again, `--purge` deletes it.");
            }
        }

        if (all)
        {
            await LabController.StopAsync(lab, output, ct);
        }

        return 0;
    }

    private async Task PurgeAsync(LabDevicePaths device, CancellationToken ct)
    {
        if (LabController.RunningPid(lab) is null)
        {
            output.WriteLine($"warning: the lab controller is not running, so it still has {device.Name}'s record; "
                + $"start it (`outpost lab up`) and run `outpost device delete {device.Name}` to remove it.");
        }
        else
        {
            using var admin = new AdminClient(ControllerLocation.OfDataDirectory(lab.ControllerDirectory));
            var view = (await admin.GetAsync<List<DeviceView>>("api/admin/devices", ct)).FirstOrDefault(d => d.Serial == device.Name || d.SoftSerial == device.Name);
            if (view is not null)
            {
                await admin.DeleteAsync($"api/admin/devices/{view.Id}", ct);
                output.WriteLine($"Deleted device {view.Id} ({device.Name}) from the lab controller.");
            }

            // Its onboarding certificate goes too, so nothing registers as this name from the deleted folder's copy.
            foreach (var onboarding in await admin.GetAsync<List<OnboardingView>>("api/admin/onboarding", ct))
            {
                if (!onboarding.Revoked && onboarding.Name == OnboardingName(device) && onboarding.Serials.Contains(device.Name))
                {
                    await admin.DeleteAsync($"api/admin/onboarding/{onboarding.Id}", ct);
                }
            }
        }

        Directory.Delete(device.Directory, recursive: true);
        output.WriteLine($"Purged {device.Name}: deleted {device.Directory}.");
    }

    private async Task OnboardAsync(AdminClient admin, LabDevicePaths device, int port, CancellationToken ct)
    {
        var server = AdvertisedNames.ServerAddress(LabController.GuestHostAddress, port);
        var certificate = Path.Combine(device.ConfigDirectory, "onboard.cert.pem");
        if (File.Exists(certificate) && await IsRegisteredAsync(admin, certificate, ct))
        {
            // Same onboarding as before; only the controller's port may have changed.
            var serverFile = Path.Combine(device.ConfigDirectory, "server");
            if (!File.Exists(serverFile) || (await File.ReadAllTextAsync(serverFile, ct)).Trim() != server)
            {
                await File.WriteAllTextAsync(serverFile, server + "\n", ct);
            }

            return;
        }

        output.WriteLine($"Onboarding {device.Name}: serial {device.Name}, server {server}, config folder {device.ConfigDirectory}.");
        await OnboardingBundle.CreateAsync(admin, [device.Name], OnboardingName(device), device.ConfigDirectory, server, ct);
    }

    /// <summary>Makes the lab's OS signing key pair once and puts its public key on the device's CONFIG as os-signing.pem.</summary>
    private async Task TrustSigningKeyAsync(LabDevicePaths device, CancellationToken ct)
    {
        if (!File.Exists(lab.SigningKey))
        {
            Outpost.Image.OsImages.OsSigningKeys.Generate(lab.SigningKey);
            output.WriteLine($"Made the lab's OS signing key {lab.SigningKey} (public key {lab.SigningPublicKey}).");
        }
        else if (!File.Exists(lab.SigningPublicKey))
        {
            Outpost.Image.OsImages.OsSigningKeys.WritePublicKey(lab.SigningKey);
        }

        OnboardingBundle.WriteOsSigningKey(device.ConfigDirectory, await File.ReadAllTextAsync(lab.SigningPublicKey, ct));
        output.WriteLine($"OS updates: {device.Name} trusts images signed with {lab.SigningKey}; "
            + $"`outpost os push DIR --version V --sign-key {lab.SigningKey}` then `outpost device update {device.Name} --version V`.");
    }

    private static async Task<bool> IsRegisteredAsync(AdminClient admin, string certificateFile, CancellationToken ct)
    {
        using var certificate = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(certificateFile, ct));
        var hash = CertificateHashes.DerHex(certificate);
        return (await admin.GetAsync<List<OnboardingView>>("api/admin/onboarding", ct)).Any(o => !o.Revoked && o.CertificateHash == hash);
    }

    private async Task WaitOnlineAsync(AdminClient admin, LabDevicePaths device, Stopwatch clock, TimeSpan timeout, CancellationToken ct)
    {
        var registered = false;
        var nextNote = ConsoleNoteEvery;
        while (true)
        {
            if (LabMachine.RunningPid(device) is null)
            {
                throw Failed(device, $"QEMU exited before {device.Name} came online, after {clock.Elapsed.TotalSeconds:0} s (the guest powered off, or QEMU failed)");
            }

            if (LabController.RunningPid(lab) is null)
            {
                throw new CliException($"The lab controller stopped while {device.Name} was booting; see {lab.ControllerLog}. The VM keeps running: `outpost lab down {device.Name}` stops it.");
            }

            var view = (await admin.GetAsync<List<DeviceView>>("api/admin/devices", ct)).FirstOrDefault(d => d.Serial == device.Name || d.SoftSerial == device.Name);
            if (view is not null && !registered)
            {
                registered = true;
                output.WriteLine($"Registered as device {view.Id} after {clock.Elapsed.TotalSeconds:0} s.");
            }

            if (view is { Online: true })
            {
                output.WriteLine($"{device.Name} is online after {clock.Elapsed.TotalSeconds:0} s. Try: outpost device show {device.Name}");
                return;
            }

            if (clock.Elapsed > timeout)
            {
                throw Failed(device, $"{device.Name} did not come online within {timeout.TotalSeconds:0} s" + (registered ? " (it registered)" : " (it never registered)"));
            }

            if (clock.Elapsed > nextNote)
            {
                nextNote += ConsoleNoteEvery;
                output.WriteLine($"Still booting after {clock.Elapsed.TotalSeconds:0} s; console: {LastLines(device.SerialLog, 1).FirstOrDefault() ?? "(nothing yet)"}");
            }

            await Task.Delay(1000, ct);
        }
    }

    /// <summary>Prints the end of the serial log and says where to look next.</summary>
    private CliException Failed(LabDevicePaths device, string what)
    {
        output.WriteLine($"Last {SerialTailLines} lines of {device.SerialLog}:");
        foreach (var line in LastLines(device.SerialLog, SerialTailLines))
        {
            output.WriteLine("  " + line);
        }

        var port = ControllerLocation.OfDataDirectory(lab.ControllerDirectory).BaseAddress.Port;
        return new CliException($"{what}. Look at the serial console above (all of it: `outpost lab console {device.Name} --no-follow`): no output at all points at "
            + $"the firmware or the boot loader; a kernel that boots but never registers, at the device agent (is there one in the image?) or at the guest "
            + $"reaching https://{LabController.GuestHostAddress}:{port}/; a registration refused, at the controller's log {lab.ControllerLog}."
            + (LabMachine.RunningPid(device) is null ? "" : $" The VM keeps running: `outpost lab down {device.Name}` stops it."));
    }

    private static IReadOnlyList<string> LastLines(string path, int count)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var lines = new Queue<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Trim().Length == 0)
            {
                continue;
            }

            lines.Enqueue(line);
            if (lines.Count > count)
            {
                lines.Dequeue();
            }
        }

        return [.. lines];
    }

    private string GivenImage(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new CliException($"--image {path} does not exist; give a live.raw from `outpost image build`, or leave --image out to build the example image.");
        }

        return full;
    }

    private async Task<string> EnsureExampleImageAsync(CancellationToken ct)
    {
        var existing = Path.Combine(lab.ImageDirectory, ImageBuilder.LiveRaw);
        output.WriteLine(File.Exists(existing)
            ? $"Image: {existing} (built earlier; delete {lab.ImageDirectory} to build it again)."
            : $"Building the example image into {lab.ImageDirectory} (once; later devices reuse it) ...");
        var steps = new Progress<BuildProgress>(p =>
        {
            if (p.Detail == "started")
            {
                output.WriteLine($"  {p.Step}");
            }
        });
        return await LabImage.EnsureAsync(lab.Root, steps, ct);
    }

    private void NoteWhenAdminCommandsLookElsewhere(ControllerLocation location)
    {
        if (ControllerLocation.FolderDefault(Environment.CurrentDirectory) == lab.ControllerDirectory)
        {
            return;
        }

        var pki = Path.Combine(lab.ControllerDirectory, "pki", "root-certificate.pem");
        output.WriteLine($"Note: admin commands run in {Environment.CurrentDirectory} do not find this lab's controller by themselves "
            + $"(they look for ./{ControllerLocation.DemoControllerDirectory}, then ./{ControllerLocation.LabControllerDirectory}); reach it with "
            + $"--controller {location.BaseAddress} --token-file {Path.Combine(lab.ControllerDirectory, "admin.token")} --ca-file {pki}");
    }

    private LabDevicePaths Existing(string name)
    {
        var device = lab.Device(name);
        if (!device.Exists)
        {
            var known = lab.Devices();
            throw new CliException($"No lab device {name} in {lab.Root}" + (known.Count == 0 ? "." : $"; there are: {string.Join(", ", known.Select(d => d.Name))}."));
        }

        return device;
    }

    private static string OnboardingName(LabDevicePaths device) => $"lab {device.Name}";

    private static string Name(QemuAccelerator accelerator) => accelerator == QemuAccelerator.Kvm ? "kvm" : "tcg";

    private static string Ago(DateTimeOffset? time) => time is not { } seen ? "never"
        : (DateTimeOffset.UtcNow - seen) switch
        {
            var age when age < TimeSpan.FromMinutes(2) => $"{age.TotalSeconds:0} s ago",
            var age when age < TimeSpan.FromHours(2) => $"{age.TotalMinutes:0} min ago",
            _ => seen.ToString("u"),
        };
}
