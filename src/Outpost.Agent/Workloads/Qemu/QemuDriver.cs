using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Outpost.Agent.Hosting;
using Outpost.Agent.Workloads.Runc;
using Outpost.Api.Consoles;
using Outpost.Api.ContainerVm;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>
/// Runs VM apps under qemu-system-x86_64, one QEMU per app, driven only through QMP on a unix socket. Each VM lives in
/// STATE/vms/ID (vm.json, qmp.sock, console.sock, console.log, qemu.log, exit-status, cidata.img); its writable disks
/// are qcow2 overlays in the app's writable directory on the read-only volume images. QEMU runs in the foreground
/// under the same detached shim as runc, inside its own cgroups, so the VM outlives an agent restart and a new
/// driver over the same state adopts it untouched. Stop asks the guest (ACPI power button), then quits QEMU after the
/// grace period, then kills it.
/// </summary>
public sealed class QemuDriver : IWorkloadDriver
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan QuitTimeout = TimeSpan.FromSeconds(10);
    private const int ClockTicksPerSecond = 100;

    private readonly QemuDriverOptions _options;
    private readonly string _qemuPath;
    private readonly string _root;

    // One QMP conversation per VM at a time: QEMU serves a single client on the socket.
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _qmpLocks = new(StringComparer.Ordinal);

    /// <exception cref="WorkloadRuntimeException">QEMU is not installed.</exception>
    public QemuDriver(QemuDriverOptions options)
    {
        _options = options;
        _qemuPath = WorkloadShim.FindOnPath(options.QemuPath)
            ?? throw new WorkloadRuntimeException(
                $"{options.QemuPath} was not found; install QEMU (Debian: apt-get install qemu-system-x86 qemu-utils ovmf) to run VM apps.");
        _root = Path.Combine(options.StateRoot, "vms");
        Persistence.AtomicFile.CreatePrivateDirectory(_root);
    }

    public string Kind => "qemu";

    public QemuAccelChoice Accelerator => _options.Accelerator;

    /// <summary>True when a VM with this id is prepared here.</summary>
    public bool Holds(string id) => File.Exists(Paths(id).Record);

    /// <summary>The unix socket of the VM's first serial port (its console); one client at a time.</summary>
    public string ConsoleSocketPath(string id) => Paths(id).ConsoleSocket;

    /// <summary>The VM's VNC socket, when it was prepared with VNC.</summary>
    public string VncSocketPath(string id) => Paths(id).VncSocket;

    public async Task PrepareAsync(WorkloadSpec spec, CancellationToken cancellationToken)
    {
        var vm = spec.Vm ?? throw new WorkloadSpecException($"Workload {spec.Id} is not a VM (it has no VM spec); the container runtime runs it.");
        var paths = Paths(spec.Id);
        var memoryBytes = spec.Limits.MemoryBytes ?? 512L * 1024 * 1024;
        if (memoryBytes > _options.HostMemoryBytes)
        {
            throw new WorkloadSpecException(
                $"VM {spec.DisplayName} asks for {memoryBytes / (1024 * 1024)} MiB of memory but this device has {_options.HostMemoryBytes / (1024 * 1024)} MiB; give it less.");
        }

        if (vm.Container && vm.Disks.Count > 0)
        {
            throw new WorkloadSpecException($"App {spec.DisplayName} runs its container in a VM, which takes no disk volumes yet; give it only its image.");
        }

        if (vm.Disks.Count == 0 && vm.KernelBoot is null && !vm.Container)
        {
            throw new WorkloadSpecException($"VM {spec.DisplayName} has neither a disk nor a kernel to boot; give it a disk volume.");
        }

        var previous = VmRecord.Load(paths.Record);
        var created = !Directory.Exists(paths.Directory);
        Persistence.AtomicFile.CreatePrivateDirectory(paths.Directory);
        Persistence.AtomicFile.CreatePrivateDirectory(spec.WritableDirectory);
        try
        {
            var disks = await PrepareDisksAsync(spec, vm, paths, cancellationToken).ConfigureAwait(false);
            var container = vm.Container ? ContainerVm.Prepare(spec, paths.Directory, _options.ContainerVmKitDirectory, vm.KernelArgs) : null;
            var cpus = spec.Limits.Vcpus is { } vcpus ? (int)Math.Ceiling(vcpus) : 1;
            var machine = new QemuMachineSpec
            {
                Name = spec.Id,
                Accelerator = _options.Accelerator.Accelerator,
                MemoryMiB = (int)Math.Max(1, memoryBytes / (1024 * 1024)),
                Cpus = cpus,
                Firmware = vm.BootMode == VmBootMode.Uefi ? PrepareUefi(spec) : null,
                Disks = disks,
                KernelBoot = container?.Boot ?? vm.KernelBoot,
                Balloon = true,
                RunAsUser = container is null ? _options.RunAsUser : null,
                Shares = container?.Shares ?? [],
                ControlSocketPath = container is null ? null : paths.ControlSocket,
                ControlPortName = ContainerVmContract.ControlPort,
                // The container VM's init powers off when the process ends; anything else (a panic) must end QEMU too.
                NoReboot = container is not null,
                SerialLogPath = paths.ConsoleLog,
                SerialSocketPath = paths.ConsoleSocket,
                QmpSocketPath = paths.QmpSocket,
                VncSocketPath = vm.Vnc ? paths.VncSocket : null,
                TcgTranslationCacheMiB = _options.Accelerator.Accelerator == QemuAccelerator.Tcg ? _options.TcgTranslationCacheMiB : null,
                HostSerialPorts = vm.HostSerialPorts,
                UsbDevices = vm.UsbDevices,
                PciDevices = vm.PciDevices,
            };
            var record = new VmRecord
            {
                Id = spec.Id,
                DisplayName = spec.DisplayName,
                WritableDirectory = Path.GetFullPath(spec.WritableDirectory),
                Arguments = QemuCommandLine.Arguments(machine),
                MemoryLimitBytes = memoryBytes + _options.OverheadBytes,
                Cpus = cpus,
                CpuSet = vm.CpuSet,
                Warnings = AcceleratorWarnings(),
                StartedAt = previous?.StartedAt,
                ShimPid = previous?.ShimPid,
                QemuPid = previous?.QemuPid,
                BootId = previous?.BootId,
                CgroupDirectories = previous?.CgroupDirectories ?? [],
                ContainerLowerDirectories = container is null ? null : spec.LowerDirectories,
            };
            record.Save(paths.Record);
        }
        catch (Exception e) when (created && e is WorkloadException or IOException)
        {
            // Leave nothing behind for a spec that never became a workload.
            ContainerVm.Unmount(paths.Directory);
            Directory.Delete(paths.Directory, recursive: true);
            Directory.Delete(spec.WritableDirectory, recursive: true);
            throw;
        }
    }

    public async Task StartAsync(string id, CancellationToken cancellationToken)
    {
        var paths = Paths(id);
        var record = VmRecord.Load(paths.Record) ?? throw new WorkloadNotFoundException(id);
        if (record.ShimPid is { } running && WorkloadShim.IsAlive(running, id) && record.BootId == _options.BootId)
        {
            return;
        }

        File.Delete(paths.ExitStatus);
        if (record.ContainerLowerDirectories is { } lowers)
        {
            // After a host reboot the overlay is gone; the container's changes are kept in the writable directory.
            ContainerVm.Remount(lowers, record.WritableDirectory, paths.Directory);
        }

        // QEMU refuses to listen where a socket of an earlier run is left.
        File.Delete(paths.QmpSocket);
        File.Delete(paths.ConsoleSocket);
        File.Delete(paths.VncSocket);
        File.Delete(paths.ControlSocket);
        VmCgroup.Remove(record.CgroupDirectories);
        var cgroups = VmCgroup.Create(id, record.MemoryLimitBytes, record.Cpus, record.CpuSet);
        var shim = WorkloadShim.Start(paths.QemuLog, paths.ExitStatus, cgroups.ProcsFiles, id, [_qemuPath, .. record.Arguments]);
        record = record with
        {
            StartedAt = DateTimeOffset.UtcNow,
            ShimPid = shim,
            QemuPid = null,
            BootId = _options.BootId,
            CgroupDirectories = cgroups.Directories,
            Warnings = [.. AcceleratorWarnings(), .. cgroups.Warnings],
        };
        record.Save(paths.Record);

        var deadline = DateTime.UtcNow + _options.StartTimeout;
        while (true)
        {
            if (ReadExitCode(paths) is { } code)
            {
                throw new WorkloadRuntimeException($"QEMU for VM {record.DisplayName} exited with code {code} while starting: {LastLines(paths.QemuLog)}");
            }

            if (File.Exists(paths.QmpSocket) && await QueryStatusAsync(id, paths, cancellationToken).ConfigureAwait(false) is not null)
            {
                break;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new WorkloadRuntimeException(
                    $"QEMU for VM {record.DisplayName} did not answer on QMP within {_options.StartTimeout.TotalSeconds:0}s; see {paths.QemuLog}.");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }

        (record with { QemuPid = ChildOf(shim) }).Save(paths.Record);
    }

    public async Task StopAsync(string id, TimeSpan grace, CancellationToken cancellationToken)
    {
        var paths = Paths(id);
        var record = VmRecord.Load(paths.Record);
        if (record?.ShimPid is not { } shim || !WorkloadShim.IsAlive(shim, id))
        {
            return;
        }

        // A container VM's init passes "stop" on to the process as SIGTERM, as runc would, and powers off after it.
        if (record.ContainerLowerDirectories is not null)
        {
            await ContainerVm.SendAsync(paths.ControlSocket, "stop", cancellationToken).ConfigureAwait(false);
        }

        // The ACPI power button: a guest that handles it shuts down and powers off, and QEMU exits by itself.
        await TryQmpAsync(id, paths, "system_powerdown", cancellationToken).ConfigureAwait(false);
        if (await WaitForExitAsync(shim, id, grace, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        await TryQmpAsync(id, paths, "quit", cancellationToken).ConfigureAwait(false);
        if (await WaitForExitAsync(shim, id, QuitTimeout, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        if (record.QemuPid is { } qemu)
        {
            UnixProcess.KillNow(qemu, id);
        }

        if (!await WaitForExitAsync(shim, id, QuitTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new WorkloadRuntimeException($"QEMU for VM {record.DisplayName} is still running after quit and SIGKILL; check the host kernel log.");
        }
    }

    /// <summary>
    /// A VM is asked to power off (ACPI) and started again once it has; a guest that does not within the grace period
    /// gets QMP's system_reset, the reset button, and boots again in the same QEMU. A container VM restarts its process
    /// the way runc would: stopped, then started.
    /// </summary>
    public async Task RestartAsync(string id, TimeSpan grace, CancellationToken cancellationToken)
    {
        var paths = Paths(id);
        var record = VmRecord.Load(paths.Record) ?? throw new WorkloadNotFoundException(id);
        if (record.ContainerLowerDirectories is null && record.ShimPid is { } shim && WorkloadShim.IsAlive(shim, id) && record.BootId == _options.BootId)
        {
            await TryQmpAsync(id, paths, "system_powerdown", cancellationToken).ConfigureAwait(false);
            if (!await WaitForExitAsync(shim, id, grace, cancellationToken).ConfigureAwait(false)
                && await TryQmpAsync(id, paths, "system_reset", cancellationToken).ConfigureAwait(false) is not null)
            {
                (record with { StartedAt = DateTimeOffset.UtcNow }).Save(paths.Record);
                return;
            }
        }

        await StopAsync(id, grace, cancellationToken).ConfigureAwait(false);
        await StartAsync(id, cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string id, CancellationToken cancellationToken)
    {
        var paths = Paths(id);
        var record = VmRecord.Load(paths.Record);
        await StopAsync(id, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        ContainerVm.Unmount(paths.Directory);
        if (record is not null)
        {
            VmCgroup.Remove(record.CgroupDirectories);
            if (Directory.Exists(record.WritableDirectory))
            {
                Directory.Delete(record.WritableDirectory, recursive: true);
            }
        }

        if (Directory.Exists(paths.Directory))
        {
            Directory.Delete(paths.Directory, recursive: true);
        }

        _qmpLocks.TryRemove(id, out _);
    }

    public async Task<WorkloadStatus> GetStatusAsync(string id, CancellationToken cancellationToken)
    {
        var paths = Paths(id);
        var record = VmRecord.Load(paths.Record);
        if (record is null)
        {
            return WorkloadStatus.NotFound(id);
        }

        new ConsoleLog(paths.ConsoleLog, _options.ConsoleLogMaxBytes).RotateIfNeeded();
        var exitCode = ReadExitCode(paths);
        WorkloadStatus Status(WorkloadState state, string? message) =>
            new(id, state, state is WorkloadState.Running ? null : exitCode, state is WorkloadState.Running ? record.QemuPid : null,
                record.StartedAt, message, record.Warnings);

        if (record.StartedAt is null)
        {
            return Status(WorkloadState.Created, null);
        }

        if (record.BootId is { } bootId && bootId != _options.BootId)
        {
            return Status(WorkloadState.Stopped, "The host restarted since this VM started; it is not running.") with
            {
                ExitCode = null,
                FromPreviousBoot = true,
            };
        }

        if (record.ShimPid is { } shim && WorkloadShim.IsAlive(shim, id))
        {
            // QEMU runs; QMP says whether the guest does (it may be paused, or still starting).
            return await QueryStatusAsync(id, paths, cancellationToken).ConfigureAwait(false) switch
            {
                null => Status(WorkloadState.Created, "starting"),
                "running" => Status(WorkloadState.Running, null),
                var other => Status(WorkloadState.Running, other),
            };
        }

        exitCode ??= ReadExitCode(paths);
        if (exitCode == 0 && record.ContainerLowerDirectories is not null)
        {
            // The VM powered off because its container's process ended: report the process's exit, as runc would.
            return ContainerVm.ReadExitCode(paths.Directory) is { } code
                ? Status(WorkloadState.Stopped, code > 128 ? $"exited with code {code} (killed by signal {code - 128})" : $"exited with code {code}") with { ExitCode = code }
                : Status(WorkloadState.Error, "The container VM powered off before its process ended; its console log says why.") with { ExitCode = null };
        }

        return exitCode switch
        {
            null => Status(WorkloadState.Error, "QEMU is gone and no exit status was recorded (it was killed with its shim, or the host rebooted); start it again."),
            0 => Status(WorkloadState.Stopped, "the guest powered off") with { ExitCode = 0 },
            > 128 => Status(WorkloadState.Stopped, $"QEMU was killed by signal {exitCode - 128}") with { ExitCode = exitCode },
            _ => Status(WorkloadState.Error, $"QEMU exited with code {exitCode}: {LastLines(paths.QemuLog)}") with { ExitCode = exitCode },
        };
    }

    public async Task<WorkloadMetrics?> GetMetricsAsync(string id, CancellationToken cancellationToken)
    {
        var paths = Paths(id);
        if (HostMetrics(VmRecord.Load(paths.Record), id) is not { } metrics)
        {
            return null;
        }

        // What only QEMU knows: the disks as the guest sees them and the balloon's size. QEMU may be ending meanwhile.
        var replies = await TryQmpAsync(id, paths, ["query-block", "query-blockstats", "query-balloon"], cancellationToken).ConfigureAwait(false);
        return metrics with
        {
            Disks = QmpMetrics.Disks(replies[0], replies[1]),
            GuestMemoryBytes = QmpMetrics.BalloonBytes(replies[2]),
        };
    }

    private WorkloadMetrics? HostMetrics(VmRecord? record, string id)
    {
        if (record?.QemuPid is not { } pid || !UnixProcess.IsRunning(pid, id))
        {
            return null;
        }

        try
        {
            // utime and stime are fields 14 and 15 of /proc/PID/stat, counted after the parenthesised name.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = ulong.Parse(fields[11], CultureInfo.InvariantCulture) + ulong.Parse(fields[12], CultureInfo.InvariantCulture);
            var memory = CgroupMemoryUsed(record) ?? ResidentBytes(pid);
            var limit = record.MemoryLimitBytes is { } bytes && record.CgroupDirectories.Count > 0 ? (ulong?)bytes : null;
            return new WorkloadMetrics(ticks * (1_000_000_000UL / ClockTicksPerSecond), memory, limit);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException)
        {
            // QEMU ended while being read.
            return null;
        }
    }

    public Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>>(Directory.EnumerateDirectories(_root)
            .Where(dir => File.Exists(Path.Combine(dir, "vm.json")))
            .Select(dir => Path.GetFileName(dir))
            .Order(StringComparer.Ordinal)
            .ToList());

    /// <summary>The serial console's or the VNC server's unix socket, connected; null when the VM is not running or has no VNC.</summary>
    public async Task<Stream?> OpenInteractiveConsoleAsync(string id, ConsoleKind kind, CancellationToken cancellationToken)
    {
        if (!Holds(id))
        {
            return null;
        }

        var path = kind == ConsoleKind.Vnc ? Paths(id).VncSocket : Paths(id).ConsoleSocket;
        if (!File.Exists(path))
        {
            return null;
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException)
        {
            // QEMU has gone (the socket file outlives it) or is just starting: no console to join now.
            socket.Dispose();
            return null;
        }
    }

    public async IAsyncEnumerable<ConsoleChunk> ReadConsoleAsync(string id, long fromOffset, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var paths = Paths(id);
        if (!File.Exists(paths.Record))
        {
            throw new WorkloadNotFoundException(id);
        }

        await foreach (var chunk in new ConsoleLog(paths.ConsoleLog, _options.ConsoleLogMaxBytes).ReadAsync(fromOffset, cancellationToken).ConfigureAwait(false))
        {
            yield return chunk;
        }
    }

    private async Task<IReadOnlyList<QemuDisk>> PrepareDisksAsync(WorkloadSpec spec, VmWorkloadSpec vm, VmPaths paths, CancellationToken cancellationToken)
    {
        var disks = new List<QemuDisk>();
        for (var i = 0; i < vm.Disks.Count; i++)
        {
            var disk = vm.Disks[i];
            if (disk.Format == VmDiskFormat.Iso)
            {
                disks.Add(new QemuDisk(disk.Path ?? throw new WorkloadSpecException($"VM {spec.DisplayName}: an ISO disk needs an image."),
                    QemuDiskFormat.Raw, ReadOnly: true, CdRom: true));
                continue;
            }

            if (disk.Path is null || disk.Writable)
            {
                // Kept when it exists: preparing again (after an agent restart) must not lose what the guest wrote.
                var overlay = Path.Combine(spec.WritableDirectory, string.Create(CultureInfo.InvariantCulture, $"disk{i}.qcow2"));
                if (!File.Exists(overlay))
                {
                    var temporary = overlay + ".tmp";
                    if (disk.Path is null)
                    {
                        await QemuImg.CreateBlankAsync(temporary, disk.MinimumSizeBytes, cancellationToken, _options.QemuImgPath).ConfigureAwait(false);
                    }
                    else
                    {
                        await QemuImg.CreateOverlayAsync(Path.GetFullPath(disk.Path), disk.Format, temporary,
                            disk.MinimumSizeBytes > 0 ? disk.MinimumSizeBytes : null, cancellationToken, _options.QemuImgPath).ConfigureAwait(false);
                    }

                    File.Move(temporary, overlay, overwrite: true);
                }

                disks.Add(new QemuDisk(overlay, QemuDiskFormat.Qcow2));
                continue;
            }

            disks.Add(new QemuDisk(disk.Path, disk.Format == VmDiskFormat.Qcow2 ? QemuDiskFormat.Qcow2 : QemuDiskFormat.Raw, ReadOnly: true));
        }

        if (vm.CloudInit is { } seed)
        {
            await NoCloudSeed.WriteAsync(paths.CloudInitSeed, seed, cancellationToken).ConfigureAwait(false);
            disks.Add(new QemuDisk(paths.CloudInitSeed, QemuDiskFormat.Raw, ReadOnly: true));
        }

        return disks;
    }

    private QemuUefiFirmware PrepareUefi(WorkloadSpec spec)
    {
        if (!File.Exists(_options.OvmfCodePath) || !File.Exists(_options.OvmfVarsTemplatePath))
        {
            throw new WorkloadRuntimeException(
                $"VM {spec.DisplayName} boots with UEFI but OVMF is not installed ({_options.OvmfCodePath}); install the ovmf package or boot it with BIOS.");
        }

        // Each VM keeps its own UEFI variables (boot entries) in its writable directory: a purge resets them.
        var vars = Path.Combine(spec.WritableDirectory, "OVMF_VARS.fd");
        if (!File.Exists(vars))
        {
            File.Copy(_options.OvmfVarsTemplatePath, vars + ".tmp", overwrite: true);
            File.Move(vars + ".tmp", vars, overwrite: true);
        }

        return new QemuUefiFirmware(_options.OvmfCodePath, vars);
    }

    private IReadOnlyList<string> AcceleratorWarnings() =>
        _options.Accelerator.Accelerator == QemuAccelerator.Tcg
            ? [$"This VM runs under TCG emulation, not KVM ({_options.Accelerator.Reason}): expect it to be many times slower than on hardware virtualization."]
            : [];

    /// <summary>QMP's run state ("running", "paused", "shutdown"...), or null when QEMU does not answer.</summary>
    private async Task<string?> QueryStatusAsync(string id, VmPaths paths, CancellationToken cancellationToken)
    {
        var reply = await TryQmpAsync(id, paths, "query-status", cancellationToken).ConfigureAwait(false);
        return reply is { ValueKind: JsonValueKind.Object } status && status.TryGetProperty("status", out var state) ? state.GetString() : null;
    }

    private async Task<JsonElement?> TryQmpAsync(string id, VmPaths paths, string command, CancellationToken cancellationToken) =>
        (await TryQmpAsync(id, paths, [command], cancellationToken).ConfigureAwait(false))[0];

    /// <summary>Runs <paramref name="commands"/> in order on one QMP connection; a command QEMU did not answer gets null, as do the rest.</summary>
    private async Task<JsonElement?[]> TryQmpAsync(string id, VmPaths paths, string[] commands, CancellationToken cancellationToken)
    {
        var replies = new JsonElement?[commands.Length];
        var gate = _qmpLocks.GetOrAdd(id, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await using var qmp = await QmpClient.ConnectAsync(paths.QmpSocket, timeout.Token).ConfigureAwait(false);
            for (var i = 0; i < commands.Length; i++)
            {
                if (commands[i] == "quit")
                {
                    await qmp.QuitAsync(timeout.Token).ConfigureAwait(false);
                    break;
                }

                replies[i] = await qmp.ExecuteAsync(commands[i], timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is QmpException or IOException or JsonException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Not (or no longer) answering: QEMU is starting, ending or stuck; callers decide from the process state.
        }
        finally
        {
            gate.Release();
        }

        return replies;
    }

    private static async Task<bool> WaitForExitAsync(int shim, string id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (WorkloadShim.IsAlive(shim, id))
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>The shim's child, QEMU itself.</summary>
    private static int? ChildOf(int pid)
    {
        try
        {
            var children = File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return children.Length > 0 ? int.Parse(children[0], CultureInfo.InvariantCulture) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static ulong? CgroupMemoryUsed(VmRecord record)
    {
        foreach (var directory in record.CgroupDirectories)
        {
            var v1 = Path.Combine(directory, "memory.usage_in_bytes");
            var v2 = Path.Combine(directory, "memory.current");
            var usageFile = File.Exists(v1) ? v1 : File.Exists(v2) ? v2 : null;
            if (usageFile is null)
            {
                continue;
            }

            var usage = ulong.Parse(File.ReadAllText(usageFile).Trim(), CultureInfo.InvariantCulture);
            // Page cache the kernel can drop (QEMU's reads of the disk images) is not "used", as for containers.
            var inactive = ReadStat(Path.Combine(directory, "memory.stat"), File.Exists(v1) ? "total_inactive_file" : "inactive_file");
            return usage > inactive ? usage - inactive : usage;
        }

        return null;
    }

    private static ulong ReadStat(string path, string key)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        foreach (var line in File.ReadLines(path))
        {
            var parts = line.Split(' ');
            if (parts.Length == 2 && parts[0] == key && ulong.TryParse(parts[1], CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }
        }

        return 0;
    }

    private static ulong ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)
                && ulong.TryParse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture, out var kib))
            {
                return kib * 1024;
            }
        }

        return 0;
    }

    private static int? ReadExitCode(VmPaths paths)
    {
        try
        {
            return int.TryParse(File.ReadAllText(paths.ExitStatus).Trim(), CultureInfo.InvariantCulture, out var code) ? code : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The end of QEMU's own output, which holds why it refused to start.</summary>
    private static string LastLines(string path)
    {
        if (!File.Exists(path))
        {
            return "(QEMU wrote nothing)";
        }

        var lines = File.ReadLines(path).TakeLast(5).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        return lines.Count == 0 ? "(QEMU wrote nothing)" : string.Join(" | ", lines);
    }

    private VmPaths Paths(string id)
    {
        WorkloadSpecValidator.ValidateId(id);
        return new VmPaths(Path.Combine(_root, id));
    }

    private sealed record VmPaths(string Directory)
    {
        public string Record => Path.Combine(Directory, "vm.json");

        public string QmpSocket => Path.Combine(Directory, "qmp.sock");

        public string ConsoleSocket => Path.Combine(Directory, "console.sock");

        public string VncSocket => Path.Combine(Directory, "vnc.sock");

        public string ConsoleLog => Path.Combine(Directory, "console.log");

        public string QemuLog => Path.Combine(Directory, "qemu.log");

        public string ExitStatus => Path.Combine(Directory, "exit-status");

        public string CloudInitSeed => Path.Combine(Directory, "cidata.img");

        public string ControlSocket => Path.Combine(Directory, "control.sock");
    }
}
