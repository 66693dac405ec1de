using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Outpost.Api.Consoles;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>
/// Runs OCI container apps with runc. Each workload lives in &lt;stateRoot&gt;/workloads/&lt;id&gt;/
/// (bundle/config.json, bundle/rootfs, console.log, workload.json) and runc keeps its state in
/// &lt;stateRoot&gt;/runc, so a new driver over the same state root adopts running containers untouched.
/// </summary>
public sealed partial class RuncDriver : IWorkloadDriver
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    // After SIGKILL the kernel tears the container down promptly; this only bounds a hung runc.
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);

    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    private readonly RuncDriverOptions _options;
    private readonly RuncCli _runc;
    private readonly Lazy<CgroupCapabilities> _cgroups = new(CgroupCapabilities.Detect);

    /// <exception cref="WorkloadRuntimeException">runc is missing or the process is not root.</exception>
    public RuncDriver(RuncDriverOptions options)
    {
        _options = options;
        var runcPath = WorkloadShim.FindOnPath(options.RuncPath)
            ?? throw new WorkloadRuntimeException(
                $"runc was not found ('{options.RuncPath}'); install runc (Debian: apt-get install runc) or set RuncDriverOptions.RuncPath.");
        if (LibC.geteuid() != 0)
        {
            throw new WorkloadRuntimeException(
                "The runc driver needs root: it mounts the app's rootfs and creates namespaces and cgroups. Run the agent as root.");
        }

        var runcRoot = Path.Combine(options.StateRoot, "runc");
        Directory.CreateDirectory(runcRoot);
        Directory.CreateDirectory(WorkloadPaths.WorkloadsRoot(options.StateRoot));
        _runc = new RuncCli(runcPath, runcRoot);
    }

    public string Kind => "runc";

    /// <summary>The cgroup layout and the limits runc can enforce on this host.</summary>
    public CgroupCapabilities Cgroups => _cgroups.Value;

    public async Task PrepareAsync(WorkloadSpec spec, CancellationToken cancellationToken)
    {
        WorkloadSpecValidator.Validate(spec);
        var paths = PathsFor(spec.Id);
        var previous = await WorkloadRecord.LoadAsync(paths.Record, cancellationToken);
        Directory.CreateDirectory(paths.Bundle);
        Directory.CreateDirectory(spec.WritableDirectory);
        var rootfs = RootfsBuilder.Prepare(spec.LowerDirectories, spec.WritableDirectory, paths.RootfsMountPoint, _options.UseOverlay);
        try
        {
            var hostname = spec.Hostname ?? HostnameFrom(spec.DisplayName, spec.Id);
            var process = ContainerProcessResolver.Resolve(spec.Process, rootfs.Path, hostname);
            var config = RuntimeSpecBuilder.Build(spec, process, rootfs.Path, hostname, Cgroups);
            await WriteAtomicallyAsync(paths.RuntimeConfig, config.ToJsonString(IndentedJson), cancellationToken);
            var warnings = RuntimeSpecBuilder.UnenforceableLimits(spec.Limits, Cgroups).ToList();
            if (rootfs.Warning is not null)
            {
                warnings.Add(rootfs.Warning);
            }

            var record = new WorkloadRecord
            {
                Id = spec.Id,
                DisplayName = spec.DisplayName,
                LowerDirectories = spec.LowerDirectories,
                WritableDirectory = Path.GetFullPath(spec.WritableDirectory),
                RootfsPath = rootfs.Path,
                RootfsIsOverlay = rootfs.IsOverlay,
                Warnings = warnings,
                StartedAt = previous?.StartedAt,
                ShimPid = previous?.ShimPid,
            };
            await record.SaveAsync(paths.Record, cancellationToken);
        }
        catch (WorkloadSpecException) when (previous is null)
        {
            // Leave nothing behind for a spec that never became a workload.
            RootfsBuilder.Unmount(paths.RootfsMountPoint);
            Directory.Delete(paths.Directory, recursive: true);
            Directory.Delete(spec.WritableDirectory, recursive: true);
            throw;
        }
    }

    public async Task StartAsync(string id, CancellationToken cancellationToken)
    {
        var paths = PathsFor(id);
        var record = await WorkloadRecord.LoadAsync(paths.Record, cancellationToken) ?? throw new WorkloadNotFoundException(id);
        var container = await _runc.StateAsync(id, cancellationToken);
        if (container is { Status: "running" or "paused" })
        {
            return;
        }

        var shimRunning = record.ShimPid is { } shimPid && WorkloadShim.IsAlive(shimPid, id);
        if (!shimRunning)
        {
            if (container is not null)
            {
                await _runc.DeleteForceAsync(id, cancellationToken);
            }

            // After a reboot the overlay is gone while the record remains; mount it again.
            if (record.RootfsIsOverlay)
            {
                RootfsBuilder.Prepare(record.LowerDirectories, record.WritableDirectory, paths.RootfsMountPoint, allowOverlay: true);
            }

            File.Delete(paths.ExitStatus);
            File.Delete(paths.RuntimeLog);
            var pid = WorkloadShim.Start(paths.ConsoleLog, paths.ExitStatus, [], id,
            [
                _runc.RuncPath, "--root", _runc.RuncRoot, "--log", paths.RuntimeLog, "--log-format", "json",
                "run", "--bundle", paths.Bundle, id,
            ]);
            record = record with { StartedAt = DateTimeOffset.UtcNow, ShimPid = pid, ContainerPid = null, BootId = _options.BootId };
            await record.SaveAsync(paths.Record, cancellationToken);
        }

        await WaitUntilStartedAsync(id, paths, cancellationToken);
        if (await _runc.StateAsync(id, cancellationToken) is { Status: "running", Pid: > 0 } started)
        {
            // Remembered so that status checks of a running workload need no runc call.
            await (record with { ContainerPid = started.Pid }).SaveAsync(paths.Record, cancellationToken);
        }
    }

    /// <remarks>The overlay rootfs is unmounted once the container is gone: nothing stays mounted for a workload that does not run.</remarks>
    public async Task RestartAsync(string id, TimeSpan grace, CancellationToken cancellationToken)
    {
        await StopAsync(id, grace, cancellationToken).ConfigureAwait(false);
        await StartAsync(id, cancellationToken).ConfigureAwait(false);
    }

    public async Task StopAsync(string id, TimeSpan grace, CancellationToken cancellationToken)
    {
        var paths = PathsFor(id);
        if (!await IsRunningAsync(id, cancellationToken))
        {
            await WaitForShimAsync(id, paths, cancellationToken);
            RootfsBuilder.Unmount(paths.RootfsMountPoint);
            return;
        }

        await _runc.KillAsync(id, "TERM", cancellationToken);
        if (!await WaitUntilAsync(async () => !await IsRunningAsync(id, cancellationToken), grace, cancellationToken))
        {
            await _runc.KillAsync(id, "KILL", cancellationToken);
            if (!await WaitUntilAsync(async () => !await IsRunningAsync(id, cancellationToken), KillTimeout, cancellationToken))
            {
                throw new WorkloadRuntimeException($"Workload {id} is still running {KillTimeout.TotalSeconds:0}s after SIGKILL; check runc and the host kernel log.");
            }
        }

        await WaitForShimAsync(id, paths, cancellationToken);
        RootfsBuilder.Unmount(paths.RootfsMountPoint);
    }

    public async Task DeleteAsync(string id, CancellationToken cancellationToken)
    {
        var paths = PathsFor(id);
        var record = await WorkloadRecord.LoadAsync(paths.Record, cancellationToken);
        await _runc.DeleteForceAsync(id, cancellationToken);
        await WaitForShimAsync(id, paths, cancellationToken);
        RootfsBuilder.Unmount(paths.RootfsMountPoint);
        if (Directory.Exists(paths.Directory))
        {
            Directory.Delete(paths.Directory, recursive: true);
        }

        // Only the writable layer goes; volumes are bind mounts of directories the volume layer owns.
        if (record is not null && Directory.Exists(record.WritableDirectory))
        {
            Directory.Delete(record.WritableDirectory, recursive: true);
        }
    }

    public async Task<WorkloadStatus> GetStatusAsync(string id, CancellationToken cancellationToken)
    {
        var paths = PathsFor(id);
        var record = await WorkloadRecord.LoadAsync(paths.Record, cancellationToken);
        if (record is null)
        {
            var unknown = await _runc.StateAsync(id, cancellationToken);
            return unknown is null
                ? WorkloadStatus.NotFound(id)
                : new WorkloadStatus(id, WorkloadState.Error, null, unknown.Pid, null,
                    "runc knows this container but the driver has no record of it; delete it.", []);
        }

        new ConsoleLog(paths.ConsoleLog, _options.ConsoleLogMaxBytes).RotateIfNeeded();
        var exitCode = ReadExitCode(paths);
        WorkloadStatus Status(WorkloadState state, int? pid, string? message) =>
            new(id, state, state is WorkloadState.Running ? null : exitCode, pid, record.StartedAt, message, record.Warnings);

        if (record.StartedAt is not null && record.BootId is { } bootId && bootId != _options.BootId)
        {
            // runc's saved state may still say "running" or "stopped": either way it is a record of the last boot.
            return Status(WorkloadState.Stopped, null, "The host restarted since this workload started; it is not running.") with
            {
                ExitCode = null,
                FromPreviousBoot = true,
            };
        }

        if (record.ShimPid is { } livePid && record.ContainerPid is { } containerPid && exitCode is null && WorkloadShim.IsAlive(livePid, id))
        {
            return Status(WorkloadState.Running, containerPid, null);
        }

        if (exitCode is not null && (record.ShimPid is not { } deadPid || !WorkloadShim.IsAlive(deadPid, id)))
        {
            // The shim recorded how the container ended and is gone: `runc run` has removed the container.
            return ReadRuntimeError(paths) is { } failure
                ? Status(WorkloadState.Error, null, "runc failed: " + failure)
                : Status(WorkloadState.Stopped, null, ExitMessage(exitCode));
        }

        var container = await _runc.StateAsync(id, cancellationToken);
        switch (container?.Status)
        {
            case "running":
                return Status(WorkloadState.Running, container.Pid, null);
            case "paused":
                return Status(WorkloadState.Running, container.Pid, "paused");
            case "created":
                return Status(WorkloadState.Created, container.Pid, "starting");
            case "stopped":
                return Status(WorkloadState.Stopped, null, ExitMessage(exitCode));
        }

        if (exitCode is not null)
        {
            return ReadRuntimeError(paths) is { } error
                ? Status(WorkloadState.Error, null, "runc failed: " + error)
                : Status(WorkloadState.Stopped, null, ExitMessage(exitCode));
        }

        if (record.StartedAt is null)
        {
            return Status(WorkloadState.Created, null, null);
        }

        if (record.ShimPid is { } shimPid && WorkloadShim.IsAlive(shimPid, id))
        {
            return Status(WorkloadState.Created, null, "starting");
        }

        // The shim writes the exit status just before it ends: it may have done so since the exit code was read above.
        if (ReadExitCode(paths) is { } late)
        {
            return Status(WorkloadState.Stopped, null, ExitMessage(late)) with { ExitCode = late };
        }

        return Status(WorkloadState.Error, null,
            "The container is gone and no exit status was recorded (its runc process was killed, or the host rebooted); start it again.");
    }

    public async Task<WorkloadMetrics?> GetMetricsAsync(string id, CancellationToken cancellationToken)
    {
        var stats = (await _runc.StatsAsync(id, cancellationToken))?["data"];
        if (stats is null)
        {
            return null;
        }

        var cpu = stats["cpu"]?["usage"]?["total"]?.GetValue<ulong>() ?? 0;
        var memory = stats["memory"];
        var usage = memory?["usage"]?["usage"]?.GetValue<ulong>() ?? 0;
        var limit = memory?["usage"]?["limit"]?.GetValue<ulong>();
        // Page cache the kernel can drop is not "used", as in `docker stats`; v1 and v2 name it differently.
        var raw = memory?["raw"];
        var inactiveFile = (raw?["total_inactive_file"] ?? raw?["inactive_file"])?.GetValue<ulong>() ?? 0;
        // cgroups report "no limit" as a value near 2^63 (v1) or the max of the type.
        var unlimited = limit is null or 0 or >= 1UL << 62;
        return new WorkloadMetrics(cpu, usage > inactiveFile ? usage - inactiveFile : usage, unlimited ? null : limit);
    }

    public async Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        var fromRunc = (await _runc.ListAsync(cancellationToken)).Select(c => c.Id);
        var fromDisk = Directory.EnumerateDirectories(WorkloadPaths.WorkloadsRoot(_options.StateRoot))
            .Where(dir => File.Exists(Path.Combine(dir, "workload.json")))
            .Select(dir => Path.GetFileName(dir));
        return fromRunc.Union(fromDisk).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The app's console output from <paramref name="fromOffset"/> on, in chunks; persist the last
    /// chunk's <see cref="ConsoleChunk.NextOffset"/> and pass it next time to continue.
    /// </summary>
    /// <summary>A container's console is its output stream only; an operator's terminal goes to VMs.</summary>
    public Task<Stream?> OpenInteractiveConsoleAsync(string id, ConsoleKind kind, CancellationToken cancellationToken) => Task.FromResult<Stream?>(null);

    public async IAsyncEnumerable<ConsoleChunk> ReadConsoleAsync(
        string id, long fromOffset, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var paths = PathsFor(id);
        if (!File.Exists(paths.Record))
        {
            throw new WorkloadNotFoundException(id);
        }

        await foreach (var chunk in new ConsoleLog(paths.ConsoleLog, _options.ConsoleLogMaxBytes).ReadAsync(fromOffset, cancellationToken))
        {
            yield return chunk;
        }
    }

    private WorkloadPaths PathsFor(string id)
    {
        WorkloadSpecValidator.ValidateId(id);
        return new WorkloadPaths(_options.StateRoot, id);
    }

    private async Task<bool> IsRunningAsync(string id, CancellationToken cancellationToken) =>
        await _runc.StateAsync(id, cancellationToken) is { Status: "running" or "paused" or "created" };

    private async Task WaitUntilStartedAsync(string id, WorkloadPaths paths, CancellationToken cancellationToken)
    {
        var started = await WaitUntilAsync(
            async () => File.Exists(paths.ExitStatus) || await _runc.StateAsync(id, cancellationToken) is { Status: "running" },
            _options.StartTimeout,
            cancellationToken);
        if (!started)
        {
            throw new WorkloadRuntimeException(
                $"Workload {id} did not reach running within {_options.StartTimeout.TotalSeconds:0}s; see {paths.ConsoleLog} and {paths.RuntimeLog}.");
        }

        // The exit file may still be mid-write; ReadExitCode treats that as "not yet".
        if (ReadExitCode(paths) is not null && ReadRuntimeError(paths) is { } error)
        {
            throw new WorkloadRuntimeException($"runc could not start workload {id}: {error}");
        }
    }

    /// <summary>Lets the shim record the exit status before anyone reads it or removes its directory.</summary>
    private async Task WaitForShimAsync(string id, WorkloadPaths paths, CancellationToken cancellationToken)
    {
        var record = await WorkloadRecord.LoadAsync(paths.Record, cancellationToken);
        if (record?.ShimPid is { } pid)
        {
            await WaitUntilAsync(() => Task.FromResult(!WorkloadShim.IsAlive(pid, id)), KillTimeout, cancellationToken);
        }
    }

    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await condition())
            {
                return true;
            }

            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    private static int? ReadExitCode(WorkloadPaths paths)
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

    private static string? ExitMessage(int? exitCode) => exitCode switch
    {
        null => null,
        > 128 => $"exited with code {exitCode} (killed by signal {exitCode - 128})",
        _ => $"exited with code {exitCode}",
    };

    /// <summary>The last error runc logged about this container (JSON lines in runc.log), if any.</summary>
    private static string? ReadRuntimeError(WorkloadPaths paths)
    {
        if (!File.Exists(paths.RuntimeLog))
        {
            return null;
        }

        string? error = null;
        foreach (var line in File.ReadLines(paths.RuntimeLog))
        {
            try
            {
                if (JsonNode.Parse(line) is JsonObject entry && entry["level"]?.GetValue<string>() is "error" or "fatal")
                {
                    error = entry["msg"]?.GetValue<string>();
                }
            }
            catch (JsonException)
            {
                // runc may leave a torn last line if it was killed mid-write.
            }
        }

        return error;
    }

    private static string HostnameFrom(string displayName, string id)
    {
        var name = InvalidHostnameCharacters().Replace(displayName.ToLowerInvariant(), "-").Trim('-');
        if (name.Length > 63)
        {
            name = name[..63].TrimEnd('-');
        }

        return name.Length > 0 ? name : id[..Math.Min(id.Length, 12)];
    }

    private static Task WriteAtomicallyAsync(string path, string content, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Persistence.AtomicFile.WriteText(path, content);
        return Task.CompletedTask;
    }

    [GeneratedRegex("[^a-z0-9-]+")]
    private static partial Regex InvalidHostnameCharacters();
}
