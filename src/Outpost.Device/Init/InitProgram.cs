using System.Runtime.InteropServices;

namespace Outpost.Device.Init;

/// <summary>
/// PID 1 of an Outpost OS image, in this order: the kernel filesystems; the kernel modules the device needs; a sane
/// clock; the hardware watchdog; persist (formatted on first boot, checked on every boot) and CONFIG; the boot
/// network; the linuxkit onboot containers, in order; then the services, the DHCP clients and the agent, each kept
/// running with backoff. It reaps every orphan, and on SIGTERM (reboot) or SIGUSR2 (power off) stops everything
/// in reverse, syncs, and resets or powers off the machine. It never exits: if PID 1 ended, the kernel would panic.
/// </summary>
internal sealed class InitProgram
{
    public const string Persist = "/persist";
    public const string Config = "/config";
    public const string AgentBinary = "/usr/bin/outpost-device";
    public const string ReleaseFile = "/etc/outpost-release";

    private readonly BootLog _log = new(Console.Out);
    private readonly List<SupervisedProcess> _running = [];
    private readonly List<Task> _supervisors = [];
    private readonly TaskCompletionSource<int> _powerRequest = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HardwareWatchdog? _watchdog;

    public async Task<int> RunAsync()
    {
        using var reboot = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Request(Native.RebootRestart));
        using var ctrlAltDel = PosixSignalRegistration.Create(PosixSignal.SIGINT, Request(Native.RebootRestart));
        using var powerOff = PosixSignalRegistration.Create((PosixSignal)Native.SigUsr2, Request(Native.RebootPowerOff));
        _supervisors.Add(OrphanReaper.RunAsync(CancellationToken.None));
        try
        {
            await BootAsync();
        }
        catch (Exception e)
        {
            // A broken step must not end PID 1; the device stays up for the operator to see why.
            _log.Say($"boot step failed: {e}");
        }

        var command = await _powerRequest.Task;
        await ShutdownAsync(command);
        return 0;
    }

    private Action<PosixSignalContext> Request(int command) => context =>
    {
        context.Cancel = true;
        _powerRequest.TrySetResult(command);
    };

    private async Task BootAsync()
    {
        KernelFilesystems.Mount(_log);
        _log.Say($"{ReleaseText()} starting (kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()})");
        Native.Reboot(Native.RebootCadOff); // Ctrl-Alt-Del becomes SIGINT to PID 1, a clean reboot
        await KernelModuleLoader.LoadAsync(_log);
        ClockGuard.Check(_log);
        if (InstallerMode.IsInstallerBoot(File.ReadAllText("/proc/cmdline")))
        {
            await InstallerMode.RunAsync(_log, CancellationToken.None);
            _powerRequest.TrySetResult(Native.RebootPowerOff);
            return;
        }

        _watchdog = HardwareWatchdog.Open(_log);
        if (_watchdog is not null) _supervisors.Add(_watchdog.RunAsync(CancellationToken.None));

        var persistDevice = await BlockDevices.WaitForPartitionAsync(PersistStorage.PartitionName, TimeSpan.FromSeconds(10), CancellationToken.None);
        if (persistDevice is null) _log.Say("persist: this disk has no P3 partition");
        if (persistDevice is not null && (await PersistStorage.PrepareAsync(persistDevice, Persist, _log, CancellationToken.None)).Mounted)
        {
            _log.KeepFilesIn(Path.Combine(Persist, "log"));
        }
        else
        {
            // The device still runs and reports; what it learns is lost at the next boot.
            _log.Say("persist: keeping state in memory (tmpfs); it is lost on reboot");
            Native.Mount("tmpfs", Persist, "tmpfs", Native.MsNodev | Native.MsNosuid, "mode=0755");
        }
        Directory.CreateDirectory(Path.Combine(Persist, "outpost"));

        await ConfigStorage.PrepareAsync(Config, _log, CancellationToken.None);
        var dhcpClients = await BootNetwork.StartAsync(Config, _log, CancellationToken.None);

        foreach (var bundle in ContainerBundles.Find("onboot"))
        {
            var definition = ContainerBundles.Prepare(bundle, "onboot", oneShot: true);
            var code = await new SupervisedProcess(definition, _log, TimeProvider.System).RunOnceAsync(CancellationToken.None);
            _log.Say($"onboot {definition.Name} exited with code {code}");
            await ContainerBundles.DeleteAsync(definition.Name);
        }

        foreach (var client in dhcpClients) Supervise(client);
        foreach (var bundle in ContainerBundles.Find("services")) Supervise(ContainerBundles.Prepare(bundle, "services", oneShot: false));
        Supervise(AgentService());
        _log.Say("boot complete");
    }

    private static ServiceDefinition AgentService() => new("agent", AgentBinary,
        ["agent", "--config", Config, "--state", Path.Combine(Persist, "outpost"), "--power", "host", "--heartbeat", HardwareWatchdog.HeartbeatPath])
    {
        // The agent stops its apps before a commanded reboot; give it the time a clean stop takes.
        StopTimeout = TimeSpan.FromSeconds(60),
    };

    private void Supervise(ServiceDefinition definition)
    {
        var process = new SupervisedProcess(definition, _log, TimeProvider.System);
        _running.Add(process);
        _log.Say($"starting {definition.Name}");
        _supervisors.Add(Task.Run(process.SuperviseAsync));
    }

    private async Task ShutdownAsync(int command)
    {
        var what = command == Native.RebootPowerOff ? "power off" : "reboot";
        _log.Say($"{what} requested: stopping services");
        for (var i = _running.Count - 1; i >= 0; i--)
        {
            await _running[i].StopAsync();
        }

        // Whatever is left (apps the agent left running, their shims) gets TERM, a moment, then KILL.
        Native.Kill(-1, Native.SigTerm);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Native.Kill(-1, Native.SigKill);
        Native.Sync();
        if (!Native.TryUnmount(Persist)) Native.TryUnmount(Persist, detach: true);
        Native.Sync();
        _watchdog?.Disarm();
        _log.Say($"{what} now");
        try
        {
            Native.Reboot(command);
        }
        catch (IOException e)
        {
            _log.Say($"{what} failed: {e.Message}");
        }
        await Task.Delay(Timeout.Infinite);
    }

    private static string ReleaseText()
    {
        try
        {
            var fields = File.ReadAllLines(ReleaseFile).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1].Trim('"'));
            return $"{fields.GetValueOrDefault("NAME", "Outpost")} {fields.GetValueOrDefault("VERSION", "")}".Trim();
        }
        catch (IOException)
        {
            return "Outpost";
        }
    }
}
