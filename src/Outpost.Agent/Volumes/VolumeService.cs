using System.Globalization;
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
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction;

namespace Outpost.Agent.Volumes;

/// <summary>
/// The volume subsystem: keeps STATE/volumes/UUID/GENERATION in line with the config's volumes and publishes a
/// <see cref="VolumeStatus"/> per volume. A download volume is its content tree's image unpacked with the
/// untrusted-layer extractor into <c>rootfs/</c> (on a worker, so one slow unpack stalls nothing else) plus the
/// image's run config beside it; a blank volume is an empty <c>rootfs/</c>. A <c>created</c> marker, written last,
/// makes a generation complete, so a crash mid-unpack starts that unpack over. A new generation count recreates the
/// volume; generations no longer wanted go once the app subsystem's inventory says no workload runs on them.
/// </summary>
public sealed partial class VolumeService : ReconcilingService
{
    public const string ImageConfigFileName = "image-config.json";
    private const string CreatedMarker = "created";
    private const string StorageArea = "volumes";

    private readonly StateBus _bus;
    private readonly string _directory;
    private readonly IContentStore _content;
    private readonly StorageHealth _storage;
    private readonly AgentOptions _options;
    private readonly ILogger _logger;
    private readonly ObjectWorkers _unpacks;
    /// <summary>Size and run config of each created generation directory, read once: a created volume never changes.</summary>
    private readonly Dictionary<string, (long Size, ImageRunConfig? Image)> _created = new(StringComparer.Ordinal);
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
        [_bus.Topic<DeviceDesired>(), _bus.Topic<VolumeSpec>(), _bus.Topic<ContentStatus>(), _bus.Topic<AppInventory>()];

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
        var status = new VolumeStatus(volume.Uuid, volume.DisplayName, volume.GenerationCount, ZSwState.Initial, MaxSizeBytes: volume.MaxSizeBytes);
        var directory = GenerationDirectory(_directory, volume.Uuid, volume.GenerationCount);
        if (File.Exists(Path.Combine(directory, CreatedMarker)))
        {
            Statuses.Publish(Created(status, directory));
            return;
        }

        ContentStatus? source = null;
        switch (volume.Origin)
        {
            case VolumeContentOriginType.VcotBlank:
                break;
            case VolumeContentOriginType.VcotDownload:
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
        var attempt = $"{volume.GenerationCount}|{source?.Sha256}";
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
        _unpacks.TryStart(volume.Uuid, ct => CreateAsync(volume, status, source, directory, attempt, ct),
            e => LogCreateBug(_logger, volume.Uuid, e));
    }

    private async Task CreateAsync(VolumeSpec volume, VolumeStatus status, ContentStatus? source, string directory, string attempt, CancellationToken cancellationToken)
    {
        var rootfs = Path.Combine(directory, "rootfs");
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }

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

            AtomicFile.WriteText(Path.Combine(directory, CreatedMarker), attempt + "\n");
            var image = ReadImage(Path.Combine(directory, ImageConfigFileName));
            lock (_gate)
            {
                _failures.Remove(volume.Uuid);
                _created[directory] = (size, image);
            }

            _storage.Succeeded(StorageArea);
            LogCreated(_logger, volume.Uuid, volume.GenerationCount, size);
            if (IsWanted(volume))
            {
                Statuses.Publish(Created(status, directory));
            }
        }
        catch (Exception e) when (e is OciException or IOException or UnauthorizedAccessException)
        {
            var storageFailure = e is not OciException && StorageHealth.IsStorageFailure(e);
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
            lock (_gate)
            {
                var backoff = _failures.TryGetValue(volume.Uuid, out var earlier) && earlier.Attempt == attempt ? earlier.Backoff
                    : new ExponentialBackoff(_options.Apps.RetryFirst, _options.Apps.RetryMax);
                _failures[volume.Uuid] = new Failure(attempt, storageFailure ? Time.GetUtcNow() + backoff.NextDelay() : null, backoff);
            }

            LogFailed(_logger, volume.Uuid, description);
            TryDelete(directory);
            if (IsWanted(volume))
            {
                Statuses.Publish(Failed(status, Statuses.Get(volume.Uuid), description));
            }
        }
    }

    private VolumeStatus Created(VolumeStatus status, string directory)
    {
        (long Size, ImageRunConfig? Image) created;
        lock (_gate)
        {
            if (!_created.TryGetValue(directory, out created))
            {
                created = _created[directory] = (DirectorySize(Path.Combine(directory, "rootfs")), ReadImage(Path.Combine(directory, ImageConfigFileName)));
            }
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Volume {Uuid} generation {Generation} created ({Bytes} bytes)")]
    private static partial void LogCreated(ILogger logger, string uuid, long generation, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Volume {Uuid}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string uuid, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Volume {Uuid}: creating it failed unexpectedly")]
    private static partial void LogCreateBug(ILogger logger, string uuid, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Volume {Uuid} removed")]
    private static partial void LogRemoved(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not delete {Directory}: {Reason}")]
    private static partial void LogDeleteFailed(ILogger logger, string directory, string reason);
}
