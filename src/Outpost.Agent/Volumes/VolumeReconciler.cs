using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Persistence;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Extraction;
using Outpost.Oci.Transfer;

namespace Outpost.Agent.Volumes;

/// <summary>
/// Keeps STATE/volumes/UUID/GENERATION in line with the config's volumes. A download volume is the image unpacked
/// with the untrusted-layer extractor into <c>rootfs/</c> plus the image config beside it (<c>image-config.json</c>);
/// a blank volume is an empty <c>rootfs/</c>. A <c>created</c> marker, written last, makes a generation complete,
/// so a crash mid-unpack starts that unpack over. A new generation count recreates the volume; directories no
/// longer wanted (old generations, removed volumes) go once no workload uses them.
/// </summary>
public sealed partial class VolumeReconciler(
    string volumesDirectory,
    ContentReconciler content,
    ObjectInfoPublisher publisher,
    TimeProvider time,
    ILogger<VolumeReconciler> logger)
{
    public const string ImageConfigFileName = "image-config.json";
    private const string CreatedMarker = "created";

    private readonly Dictionary<string, VolumeStatus> _statuses = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, string> _failedUnpacks = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyDictionary<string, VolumeStatus> Statuses => new Dictionary<string, VolumeStatus>(_statuses, StringComparer.OrdinalIgnoreCase);

    public static string GenerationDirectory(string volumesDirectory, string uuid, long generation) =>
        Path.Combine(volumesDirectory, uuid.ToLowerInvariant(), generation.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <param name="inUse">Volume directories a workload still runs on; they are not removed yet.</param>
    public async Task ReconcileAsync(DesiredState desired, IReadOnlySet<string> inUse, CancellationToken cancellationToken)
    {
        var contents = content.Statuses;
        foreach (var volume in desired.Volumes.Values)
        {
            var status = await ReconcileVolumeAsync(volume, contents, cancellationToken).ConfigureAwait(false);
            _statuses[volume.Uuid] = status;
            publisher.Publish(status.ToInfo());
        }

        RemoveUnwanted(desired, inUse);
    }

    private async Task<VolumeStatus> ReconcileVolumeAsync(VolumeSpec volume, IReadOnlyDictionary<string, ContentStatus> contents, CancellationToken cancellationToken)
    {
        var previous = _statuses.GetValueOrDefault(volume.Uuid);
        var status = new VolumeStatus(volume.Uuid, volume.DisplayName, volume.GenerationCount, ZSwState.Initial, MaxSizeBytes: volume.MaxSizeBytes);
        var directory = GenerationDirectory(volumesDirectory, volume.Uuid, volume.GenerationCount);
        var rootfs = Path.Combine(directory, "rootfs");
        var imageConfig = Path.Combine(directory, ImageConfigFileName);
        if (File.Exists(Path.Combine(directory, CreatedMarker)))
        {
            var size = previous is { IsCreated: true } && previous.GenerationCount == volume.GenerationCount ? previous.SizeBytes : DirectorySize(rootfs);
            return status with
            {
                State = ZSwState.CreatedVolume,
                ProgressPercentage = 100,
                RootfsPath = rootfs,
                ImageConfigPath = File.Exists(imageConfig) ? imageConfig : null,
                SizeBytes = size,
            };
        }

        ContentStatus? source = null;
        switch (volume.Origin)
        {
            case VolumeContentOriginType.VcotBlank:
                break;
            case VolumeContentOriginType.VcotDownload:
                source = volume.ContentTreeId is { } id ? contents.GetValueOrDefault(id) : null;
                if (source is null)
                {
                    return status with
                    {
                        State = ZSwState.Error,
                        Error = ObjectError.Since(previous?.Error, $"Volume {volume.Uuid} is to be created from content tree {volume.ContentTreeId ?? "(none)"}, which is not in the device config.", time.GetUtcNow()),
                    };
                }

                if (!source.IsLoaded)
                {
                    // Until the image is in the store the volume shows its download (EVE does the same).
                    return status with { State = source.State, ProgressPercentage = source.ProgressPercentage, Error = source.Error };
                }

                break;
            default:
                return status with
                {
                    State = ZSwState.Error,
                    Error = ObjectError.Since(previous?.Error, $"Volume {volume.Uuid} has origin {volume.Origin}; only VCOT_DOWNLOAD and VCOT_BLANK are supported.", time.GetUtcNow()),
                };
        }

        // The same failing unpack is not repeated on every pass; a new generation or new content tries again.
        var attempt = $"{volume.GenerationCount}|{source?.Sha256}";
        if (_failedUnpacks.TryGetValue(volume.Uuid, out var failed) && failed == attempt && previous?.Error is not null)
        {
            return previous;
        }

        publisher.Publish((status with { State = ZSwState.CreatingVolume }).ToInfo());
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }

            Directory.CreateDirectory(rootfs);
            long size = 0;
            if (source is not null)
            {
                var layout = await content.GetLayoutAsync(cancellationToken).ConfigureAwait(false);
                var image = await layout.ResolveAsync(source.ImageName!, cancellationToken: cancellationToken).ConfigureAwait(false);
                var policy = ExtractionPolicy.Untrusted with
                {
                    // Only root can give files their owners; anyone else gets files owned by itself.
                    ApplyOwnership = Environment.IsPrivilegedProcess,
                    MaxBytes = volume.MaxSizeBytes > 0 ? volume.MaxSizeBytes : long.MaxValue,
                };
                size = await ImageUnpacker.UnpackAsync(layout, image, rootfs, policy, cancellationToken).ConfigureAwait(false);
                AtomicFile.Write(imageConfig, OciJson.Serialize(image.Config));
            }

            AtomicFile.WriteText(Path.Combine(directory, CreatedMarker), attempt + "\n");
            _failedUnpacks.Remove(volume.Uuid);
            LogCreated(logger, volume.Uuid, volume.GenerationCount, size);
            return status with
            {
                State = ZSwState.CreatedVolume,
                ProgressPercentage = 100,
                RootfsPath = rootfs,
                ImageConfigPath = source is null ? null : imageConfig,
                SizeBytes = size,
            };
        }
        catch (Exception e) when (e is OciException or IOException or UnauthorizedAccessException)
        {
            _failedUnpacks[volume.Uuid] = attempt;
            var description = e switch
            {
                LayerSecurityException s => $"Volume {volume.Uuid} cannot be created: {s.Message}",
                QuotaExceededException q => $"Volume {volume.Uuid} is larger than its maxsizebytes ({q.LimitBytes} bytes): {q.Message}",
                _ => $"Volume {volume.Uuid} cannot be created: {e.Message}",
            };
            LogFailed(logger, volume.Uuid, description);
            TryDelete(directory);
            return status with { State = ZSwState.Error, Error = ObjectError.Since(previous?.Error, description, time.GetUtcNow()) };
        }
    }

    private void RemoveUnwanted(DesiredState desired, IReadOnlySet<string> inUse)
    {
        if (!Directory.Exists(volumesDirectory))
        {
            return;
        }

        foreach (var volumeDir in Directory.EnumerateDirectories(volumesDirectory))
        {
            var uuid = Path.GetFileName(volumeDir);
            var wanted = desired.Volumes.GetValueOrDefault(uuid);
            var generations = Directory.EnumerateDirectories(volumeDir).ToList();
            foreach (var generation in generations)
            {
                var keep = wanted is not null && GenerationDirectory(volumesDirectory, uuid, wanted.GenerationCount) == generation;
                if (!keep && !inUse.Any(p => p.StartsWith(generation + Path.DirectorySeparatorChar, StringComparison.Ordinal) || p == generation))
                {
                    TryDelete(generation);
                }
            }

            if (wanted is null && !Directory.EnumerateFileSystemEntries(volumeDir).Any())
            {
                TryDelete(volumeDir);
                _statuses.Remove(uuid);
                _failedUnpacks.Remove(uuid);
                publisher.Publish(new ZInfoVolume { Uuid = uuid });
                LogRemoved(logger, uuid);
            }
        }

        foreach (var uuid in _statuses.Keys.Where(u => !desired.Volumes.ContainsKey(u) && !Directory.Exists(Path.Combine(volumesDirectory, u.ToLowerInvariant()))).ToList())
        {
            // Never got a directory (e.g. its download failed): report it deleted all the same.
            _statuses.Remove(uuid);
            publisher.Publish(new ZInfoVolume { Uuid = uuid });
        }
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
            LogDeleteFailed(logger, directory, e.Message);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Volume {Uuid} generation {Generation} created ({Bytes} bytes)")]
    private static partial void LogCreated(ILogger logger, string uuid, long generation, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Volume {Uuid}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string uuid, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Volume {Uuid} removed")]
    private static partial void LogRemoved(ILogger logger, string uuid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not delete {Directory}: {Reason}")]
    private static partial void LogDeleteFailed(ILogger logger, string directory, string reason);
}
