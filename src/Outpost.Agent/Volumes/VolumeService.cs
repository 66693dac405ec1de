using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Hosting;
using Outpost.Agent.Persistence;
using Outpost.Agent.Timing;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction;

namespace Outpost.Agent.Volumes;

/// <summary>
/// The volume subsystem: keeps STATE/volumes/UUID/GENERATION in line with the config's volumes and publishes a
/// <see cref="VolumeStatus"/> per volume. A download volume is its content tree's image unpacked with the
/// untrusted-layer extractor into <c>rootfs/</c> (on a worker, so one slow unpack stalls nothing else) plus the
/// image's run config beside it; a blank volume is an empty <c>rootfs/</c>. A download volume whose content tree is a
/// RAW, QCOW2 or ISO disk artifact is a disk instead: <c>disk.FORMAT</c>, the artifact's disk hard-linked read-only
/// from the content store (N volumes share one base), checked by qemu-img before it is offered, with its format and
/// sizes in <c>disk.json</c> beside it. A <c>created</c> marker, written last,
/// makes a generation complete, so a crash mid-unpack starts that unpack over. A new generation count recreates the
/// volume; generations no longer wanted go once the app subsystem's inventory says no workload runs on them.
/// </summary>
public sealed partial class VolumeService : ReconcilingService
{
    public const string ImageConfigFileName = "image-config.json";
    public const string DiskInfoFileName = "disk.json";
    private const string CreatedMarker = "created";
    private const string StorageArea = "volumes";

    private readonly StateBus _bus;
    private readonly string _directory;
    private readonly IContentStore _content;
    private readonly StorageHealth _storage;
    private readonly AgentOptions _options;
    private readonly ILogger _logger;
    private readonly ObjectWorkers _unpacks;
    /// <summary>What each created generation directory holds, read once: a created volume never changes.</summary>
    private readonly Dictionary<string, CreatedVolume> _created = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Failure> _failures = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public VolumeService(StateBus bus, IContentStore content, AgentOptions options, StorageHealth storage, AgentHealth health, ILogger<VolumeService> logger)
        : base(health, options.TimeProvider, logger)
    {
        _bus = bus;
        _directory = Path.Combine(options.StateDir, "volumes");
        _content = content;
        _storage = storage;
        _options = options;
        _logger = logger;
        _unpacks = new ObjectWorkers(Wake);
    }

    protected override IReadOnlyList<ITopic> Watched =>
        [_bus.Topic<DeviceDesired>(), _bus.Topic<VolumeSpec>(), _bus.Topic<ContentTreeSpec>(), _bus.Topic<ContentStatus>(), _bus.Topic<AppInventory>()];

    protected override TimeSpan PollInterval => _options.Apps.PollInterval;

    private Topic<VolumeStatus> Statuses => _bus.Topic<VolumeStatus>();

    public static string GenerationDirectory(string volumesDirectory, string uuid, long generation) =>
        Path.Combine(volumesDirectory, uuid, generation.ToString(CultureInfo.InvariantCulture));

    protected override Task ReconcileAsync(CancellationToken cancellationToken)
    {
        if (_bus.Topic<DeviceDesired>().Get(DeviceDesired.SingletonKey) is null)
        {
            return Task.CompletedTask;
        }

        var volumes = _bus.Topic<VolumeSpec>().Current;
        var contents = _bus.Topic<ContentStatus>().Current;
        foreach (var volume in volumes.Values)
        {
            if (!_unpacks.IsBusy(volume.Uuid))
            {
                Reconcile(volume, contents);
            }
        }

        RemoveUnwanted(volumes);
        return Task.CompletedTask;
    }

    private void Reconcile(VolumeSpec volume, IReadOnlyDictionary<string, ContentStatus> contents)
    {
        var previous = Statuses.Get(volume.Uuid);
        var status = new VolumeStatus(volume.Uuid, volume.DisplayName, volume.GenerationCount, ZSwState.Initial, MaxSizeBytes: volume.MaxSizeBytes) { Target = volume.Target };
        var directory = GenerationDirectory(_directory, volume.Uuid, volume.GenerationCount);
        // A created disk volume whose disk.json or disk went missing (damage from outside) is made again.
        if (File.Exists(Path.Combine(directory, CreatedMarker)) && Created(status, directory) is { } created)
        {
            Statuses.Publish(created);
            return;
        }

        ContentStatus? source = null;
        VmDiskFormat? disk = null;
        switch (volume.Origin)
        {
            case VolumeContentOriginType.VcotBlank:
                break;
            case VolumeContentOriginType.VcotDownload:
                // The tree's format says what the volume is; one this agent cannot run fails here, whatever the download does.
                if (volume.ContentTreeId is { } treeId && _bus.Topic<ContentTreeSpec>().Get(treeId) is { } tree && !TryGetKind(tree.Format, out disk))
                {
                    Statuses.Publish(Failed(status, previous,
                        $"Volume {volume.Uuid} cannot be created: its content tree {tree.Uuid} has format {tree.Format}, which is not supported; convert it to qcow2 with qemu-img convert (or use RAW, ISO, or CONTAINER for a container image)."));
                    return;
                }

                // The config validator made sure the tree is in the config; its status may not be published yet.
                source = volume.ContentTreeId is { } id ? contents.GetValueOrDefault(id) : null;
                if (source is not { IsLoaded: true })
                {
                    // Until the image is in the store the volume shows its download (EVE does the same).
                    Statuses.Publish(status with
                    {
                        State = source?.State ?? ZSwState.Initial,
                        ProgressPercentage = source?.ProgressPercentage ?? 0,
                        Error = source?.Error,
                    });
                    return;
                }

                break;
            default:
                Statuses.Publish(Failed(status, previous, $"Volume {volume.Uuid} has origin {volume.Origin}; only VCOT_DOWNLOAD and VCOT_BLANK are supported."));
                return;
        }

        // The same failing unpack is not repeated on every pass; a new generation or new content tries again, and a
        // failure of the disk itself (full, failing) is retried with backoff.
        var attempt = disk is null ? $"{volume.GenerationCount}|{source?.Sha256}" : $"{volume.GenerationCount}|{source?.Sha256}|{disk}";
        lock (_gate)
        {
            if (_failures.TryGetValue(volume.Uuid, out var failure) && failure.Attempt == attempt
                && (failure.RetryAt is null || Time.GetUtcNow() < failure.RetryAt) && previous?.Error is not null)
            {
                Statuses.Publish(previous);
                return;
            }
        }

        Statuses.Publish(status with { State = ZSwState.CreatingVolume });
        _unpacks.TryStart(volume.Uuid, ct => CreateAsync(volume, status, source, disk, directory, attempt, ct),
            e => LogCreateBug(_logger, volume.Uuid, e));
    }

    private async Task CreateAsync(
        VolumeSpec volume, VolumeStatus status, ContentStatus? source, VmDiskFormat? disk, string directory, string attempt, CancellationToken cancellationToken)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }

            var created = disk is { } format
                ? await CreateDiskAsync(volume, source!, format, directory, cancellationToken).ConfigureAwait(false)
                : await CreateRootfsAsync(volume, source, directory, cancellationToken).ConfigureAwait(false);
            AtomicFile.WriteText(Path.Combine(directory, CreatedMarker), attempt + "\n");
            lock (_gate)
            {
                _failures.Remove(volume.Uuid);
                _created[directory] = created;
            }

            _storage.Succeeded(StorageArea);
            LogCreated(_logger, volume.Uuid, volume.GenerationCount, created.Size);
            if (IsWanted(volume) && Created(status, directory) is { } done)
            {
                Statuses.Publish(done);
            }
        }
        catch (Exception e) when (e is OciException or IOException or UnauthorizedAccessException or WorkloadException)
        {
            var storageFailure = e is IOException or UnauthorizedAccessException && StorageHealth.IsStorageFailure(e);
            if (storageFailure)
            {
                _storage.Failed(StorageArea, e);
            }

            var description = e switch
            {
                LayerSecurityException s => $"Volume {volume.Uuid} cannot be created: {s.Message}",
                QuotaExceededException q => $"Volume {volume.Uuid} is larger than its maxsizebytes ({q.LimitBytes} bytes): {q.Message}",
                IOException io when StorageHealth.IsDiskFull(io) =>
                    $"Volume {volume.Uuid} cannot be created: the device is out of disk space ({io.Message}); it is created once space is freed.",
                _ => $"Volume {volume.Uuid} cannot be created: {e.Message}",
            };

            // A refused image stays refused until new content or a new generation; a missing or broken qemu-img, like a
            // failing disk, can be fixed on the device and is retried with backoff.
            var retry = storageFailure || e is WorkloadRuntimeException;
            lock (_gate)
            {
                var backoff = _failures.TryGetValue(volume.Uuid, out var earlier) && earlier.Attempt == attempt ? earlier.Backoff
                    : new ExponentialBackoff(_options.Apps.RetryFirst, _options.Apps.RetryMax);
                _failures[volume.Uuid] = new Failure(attempt, retry ? Time.GetUtcNow() + backoff.NextDelay() : null, backoff);
            }

            LogFailed(_logger, volume.Uuid, description);
            TryDelete(directory);
            if (IsWanted(volume))
            {
                Statuses.Publish(Failed(status, Statuses.Get(volume.Uuid), description));
            }
        }
    }

    /// <summary>A container volume: the image unpacked into <c>rootfs/</c>, its config beside it (a blank volume: an empty <c>rootfs/</c>).</summary>
    private async Task<CreatedVolume> CreateRootfsAsync(VolumeSpec volume, ContentStatus? source, string directory, CancellationToken cancellationToken)
    {
        var rootfs = Path.Combine(directory, "rootfs");
        AtomicFile.CreatePrivateDirectory(rootfs);
        long size = 0;
        if (source is not null)
        {
            var policy = ExtractionPolicy.Untrusted with
            {
                // Only root can give files their owners; anyone else gets files owned by itself.
                ApplyOwnership = Environment.IsPrivilegedProcess,
                MaxBytes = volume.MaxSizeBytes > 0 ? volume.MaxSizeBytes : long.MaxValue,
            };
            var (config, bytes) = await _content.UnpackAsync(source.ImageName!, rootfs, policy, cancellationToken).ConfigureAwait(false);
            size = bytes;
            AtomicFile.Write(Path.Combine(directory, ImageConfigFileName), OciJson.Serialize(config));
        }

        return new CreatedVolume(size, ReadImage(Path.Combine(directory, ImageConfigFileName)), null);
    }

    /// <summary>
    /// A disk volume: the artifact's disk exported read-only as <c>disk.FORMAT</c>, then inspected by qemu-img (stated
    /// format, no backing or data file, consistent) before anything may boot from it; what it is goes to <c>disk.json</c>.
    /// </summary>
    private async Task<CreatedVolume> CreateDiskAsync(VolumeSpec volume, ContentStatus source, VmDiskFormat format, string directory, CancellationToken cancellationToken)
    {
        AtomicFile.CreatePrivateDirectory(directory);
        var path = Path.Combine(directory, DiskFileName(format));
        await _content.ExportDiskAsync(source.ImageName!, path, volume.MaxSizeBytes, cancellationToken).ConfigureAwait(false);
        var info = await QemuImg.InspectAsync(path, format, cancellationToken).ConfigureAwait(false);
        AtomicFile.Write(Path.Combine(directory, DiskInfoFileName), DiskInfoFile.Serialize(info));
        return new CreatedVolume(info.ActualSizeBytes, null, new CreatedDisk(path, info));
    }

    /// <summary>The volume kind a content tree format makes: a disk of <paramref name="disk"/>'s format, a container (null), or none (false).</summary>
    private static bool TryGetKind(Format format, out VmDiskFormat? disk)
    {
        disk = format switch
        {
            Format.Raw => VmDiskFormat.Raw,
            Format.Qcow2 => VmDiskFormat.Qcow2,
            Format.Iso => VmDiskFormat.Iso,
            _ => null,
        };
        // FmtUnknown stays on the container path, as before: the content subsystem reports what is wrong with it.
        return disk is not null || format is Format.Container or Format.FmtUnknown;
    }

    public static string DiskFileName(VmDiskFormat format) => format switch
    {
        VmDiskFormat.Qcow2 => "disk.qcow2",
        VmDiskFormat.Iso => "disk.iso",
        _ => "disk.raw",
    };

    /// <summary>The status of a created generation directory, or null when it is a disk volume that lost its disk or disk.json.</summary>
    private VolumeStatus? Created(VolumeStatus status, string directory)
    {
        CreatedVolume? created;
        lock (_gate)
        {
            if (!_created.TryGetValue(directory, out created))
            {
                created = Load(directory);
                if (created is null)
                {
                    LogDamaged(_logger, status.Uuid, directory);
                    return null;
                }

                _created[directory] = created;
            }
        }

        if (created.Disk is { } createdDisk)
        {
            return status with
            {
                State = ZSwState.CreatedVolume,
                ProgressPercentage = 100,
                DiskPath = createdDisk.Path,
                DiskFormat = createdDisk.Info.Format,
                DiskVirtualSizeBytes = createdDisk.Info.VirtualSizeBytes,
                SizeBytes = created.Size,
            };
        }

        return status with
        {
            State = ZSwState.CreatedVolume,
            ProgressPercentage = 100,
            RootfsPath = Path.Combine(directory, "rootfs"),
            Image = created.Image,
            SizeBytes = created.Size,
        };
    }

    /// <summary>
    /// What an earlier run created: a disk volume when disk.json is there (null if it or the disk cannot be read), else
    /// a filesystem volume.
    /// </summary>
    private static CreatedVolume? Load(string directory)
    {
        var diskInfo = Path.Combine(directory, DiskInfoFileName);
        if (!File.Exists(diskInfo))
        {
            return new CreatedVolume(DirectorySize(Path.Combine(directory, "rootfs")), ReadImage(Path.Combine(directory, ImageConfigFileName)), null);
        }

        var info = DiskInfoFile.TryParse(AtomicFile.TryRead(diskInfo));
        var path = info is null ? null : Path.Combine(directory, DiskFileName(info.Format));
        return info is not null && File.Exists(path) ? new CreatedVolume(info.ActualSizeBytes, null, new CreatedDisk(path, info)) : null;
    }

    private VolumeStatus Failed(VolumeStatus status, VolumeStatus? previous, string description) =>
        status with { State = ZSwState.Error, Error = ObjectError.Since(previous?.Error, description, Time.GetUtcNow()) };

    private bool IsWanted(VolumeSpec volume) => _bus.Topic<VolumeSpec>().Get(volume.Uuid) == volume;

    private void RemoveUnwanted(IReadOnlyDictionary<string, VolumeSpec> wanted)
    {
        foreach (var gone in Statuses.Current.Keys.Where(k => !wanted.ContainsKey(k)).ToList())
        {
            // Reported deleted at once; its directory goes below once no workload uses it.
            _unpacks.Cancel(gone);
            Statuses.Remove(gone);
            lock (_gate)
            {
                _failures.Remove(gone);
            }

            LogRemoved(_logger, gone);
        }

        // Only the app subsystem knows which directories its workloads run on; until it has looked, nothing goes.
        if (_bus.Topic<AppInventory>().Get(AppInventory.SingletonKey) is not { Complete: true } inventory || !Directory.Exists(_directory))
        {
            return;
        }

        foreach (var volumeDir in Directory.EnumerateDirectories(_directory))
        {
            var uuid = Path.GetFileName(volumeDir);
            if (_unpacks.IsBusy(uuid))
            {
                continue;
            }

            var volume = wanted.GetValueOrDefault(uuid);
            foreach (var generation in Directory.EnumerateDirectories(volumeDir))
            {
                var keep = volume is not null && GenerationDirectory(_directory, uuid, volume.GenerationCount) == generation;
                var inUse = inventory.VolumesInUse.Any(u => GenerationDirectory(_directory, u.Uuid, u.GenerationCount) == generation);
                if (!keep && !inUse)
                {
                    TryDelete(generation);
                    lock (_gate)
                    {
                        _created.Remove(generation);
                    }
                }
            }

            if (volume is null && !Directory.EnumerateFileSystemEntries(volumeDir).Any())
            {
                TryDelete(volumeDir);
            }
        }
    }

    private static ImageRunConfig? ReadImage(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        var run = OciJson.Deserialize<ImageConfig>(File.ReadAllBytes(path), path).Config;
        return new ImageRunConfig(
            (run?.Entrypoint ?? []).ToValueList(), (run?.Cmd ?? []).ToValueList(), (run?.Env ?? []).ToValueList(),
            string.IsNullOrEmpty(run?.WorkingDir) ? null : run.WorkingDir, string.IsNullOrEmpty(run?.User) ? null : run.User);
    }

    private void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogDeleteFailed(_logger, directory, e.Message);
        }
    }

    private static long DirectorySize(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        long total = 0;
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", options))
        {
            if (file.LinkTarget is null)
            {
                total += file.Length;
            }
        }

        return total;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await _unpacks.DrainAsync(cancel: true).ConfigureAwait(false);
    }

    private sealed record Failure(string Attempt, DateTimeOffset? RetryAt, ExponentialBackoff Backoff);

    /// <summary>What a created generation directory holds: its size and either a rootfs (with run config) or a disk.</summary>
    private sealed record CreatedVolume(long Size, ImageRunConfig? Image, CreatedDisk? Disk);

    private sealed record CreatedDisk(string Path, DiskImageInfo Info);

    /// <summary>disk.json: what qemu-img found when the disk volume was created, so a restart need not ask again.</summary>
    private static class DiskInfoFile
    {
        public static byte[] Serialize(DiskImageInfo info)
        {
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("format", info.Format.ToString().ToLowerInvariant());
                json.WriteNumber("virtualSizeBytes", info.VirtualSizeBytes);
                json.WriteNumber("actualSizeBytes", info.ActualSizeBytes);
                json.WriteEndObject();
            }

            return buffer.ToArray();
        }

        public static DiskImageInfo? TryParse(byte[]? content)
        {
            if (content is null)
            {
                return null;
            }

            try
            {
                using var json = JsonDocument.Parse(content);
                var root = json.RootElement;
                return Enum.TryParse<VmDiskFormat>(root.GetProperty("format").GetString(), ignoreCase: true, out var format)
                    ? new DiskImageInfo(format, root.GetProperty("virtualSizeBytes").GetInt64(), root.GetProperty("actualSizeBytes").GetInt64())
                    : null;
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                return null;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Volume {Uuid} generation {Generation} created ({Bytes} bytes)")]
    private static partial void LogCreated(ILogger logger, string uuid, long generation, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Volume {Uuid}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string uuid, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Volume {Uuid}: creating it failed unexpectedly")]
    private static partial void LogCreateBug(ILogger logger, string uuid, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Volume {Uuid}: {Directory} is marked created but its disk or disk.json is gone; creating it again")]
    private static partial void LogDamaged(ILogger logger, string uuid, string directory);

    [LoggerMessage(Level = LogLevel.Information, Message = "Volume {Uuid} removed")]
    private static partial void LogRemoved(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not delete {Directory}: {Reason}")]
    private static partial void LogDeleteFailed(ILogger logger, string directory, string reason);
}
