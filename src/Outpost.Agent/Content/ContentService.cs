using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Hosting;
using Outpost.Agent.Persistence;
using Outpost.Agent.Timing;
using Outpost.Oci.Artifacts;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Transfer;

namespace Outpost.Agent.Content;

/// <summary>
/// The content subsystem: brings the content store (an OCI layout at STATE/content) in line with the config's
/// content trees and publishes a <see cref="ContentStatus"/> per tree. Each tree that is not in the store gets one
/// download on a worker (resolve the tag, pull with progress, verify, tag it <c>outpost/content/UUID</c>); the pass
/// itself never waits for a download. Blobs already present are skipped and a cut blob continues from its
/// <c>.partial</c> file, so an agent killed mid-pull resumes on the next start. Failures (a full disk among them) are
/// reported as ERROR and retried with backoff. Trees that left the config are untagged and their blobs collected once
/// no download is in flight. A RAW, QCOW2 or ISO tree on an HTTP(S) datastore is one file instead, checked against
/// the tree's sha256 and stored as a disk artifact of one layer, so volumes treat it as a disk pulled from a registry.
/// </summary>
public sealed partial class ContentService : ReconcilingService
{
    public const string TagPrefix = "outpost/content/";
    private const string FingerprintAnnotation = "io.outpost.content.source";

    /// <summary>On a disk downloaded over HTTP: the file's SHA-256, which is what the controller knows the tree by (its tag points at the synthetic manifest).</summary>
    private const string FileShaAnnotation = "io.outpost.content.sha256";
    private const string StorageArea = "content store";

    private readonly StateBus _bus;
    private readonly ContentStore _store;
    private readonly ContentStoreOptions _options;
    private readonly StorageHealth _storage;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ObjectWorkers _pulls;
    private bool _collectGarbage = true;

    public ContentService(StateBus bus, ContentStore store, AgentOptions options, StorageHealth storage, AgentHealth health, ILoggerFactory loggers)
        : base(health, options.TimeProvider, loggers.CreateLogger<ContentService>())
    {
        _bus = bus;
        _store = store;
        _options = options.Apps.Content;
        _storage = storage;
        _loggers = loggers;
        _logger = loggers.CreateLogger<ContentService>();
        _pulls = new ObjectWorkers(Wake);
        PollInterval = options.Apps.PollInterval;
    }

    protected override IReadOnlyList<ITopic> Watched => [_bus.Topic<DeviceDesired>(), _bus.Topic<ContentTreeSpec>(), _bus.Topic<DatastoreSpec>()];

    protected override TimeSpan PollInterval { get; }

    private Topic<ContentStatus> Statuses => _bus.Topic<ContentStatus>();

    protected override async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        if (_bus.Topic<DeviceDesired>().Get(DeviceDesired.SingletonKey) is null)
        {
            // No config yet (not even the saved one): every tree in the store would look unwanted.
            return;
        }

        var trees = _bus.Topic<ContentTreeSpec>().Current;
        var datastores = _bus.Topic<DatastoreSpec>().Current;
        OciLayout layout;
        Dictionary<string, Descriptor> tags;
        try
        {
            layout = await _store.GetLayoutAsync(cancellationToken).ConfigureAwait(false);
            tags = (await layout.ReadIndexAsync(cancellationToken).ConfigureAwait(false)).Manifests
                .Where(m => m.RefName?.StartsWith(TagPrefix, StringComparison.Ordinal) == true)
                .ToDictionary(m => m.RefName![TagPrefix.Length..], StringComparer.Ordinal);
        }
        catch (IOException e) when (StorageHealth.IsStorageFailure(e))
        {
            // The store itself cannot be opened (a full disk cannot even take its index): every tree says so.
            _storage.Failed(StorageArea, e);
            foreach (var tree in trees.Values)
            {
                var previous = Statuses.Get(tree.Uuid);
                Statuses.Publish(new ContentStatus(tree.Uuid, tree.DisplayName, tree.GenerationCount, ZSwState.Error,
                    Error: ObjectError.Since(previous?.Error, Describe(e, tree)!, Time.GetUtcNow())));
            }

            return;
        }

        foreach (var tree in trees.Values)
        {
            ReconcileTree(tree, datastores, tags.GetValueOrDefault(tree.Uuid));
        }

        await RemoveUnwantedAsync(trees, layout, tags, cancellationToken).ConfigureAwait(false);
    }

    private void ReconcileTree(ContentTreeSpec tree, IReadOnlyDictionary<string, DatastoreSpec> datastores, Descriptor? tag)
    {
        var fingerprint = Fingerprint(tree);
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(tree.Uuid, out entry!) || entry.Fingerprint != fingerprint)
            {
                _pulls.Cancel(tree.Uuid);
                entry = new Entry(tree, fingerprint, new ContentStatus(tree.Uuid, tree.DisplayName, tree.GenerationCount, ZSwState.Initial),
                    new ExponentialBackoff(_options.RetryFirst, _options.RetryMax));
                _entries[tree.Uuid] = entry;
            }
        }

        if (tag is not null && tag.Annotations?.GetValueOrDefault(FingerprintAnnotation) == fingerprint)
        {
            if (!entry.Status.IsLoaded)
            {
                // Loaded by an earlier run (or a download that just finished): nothing to fetch.
                Update(entry, s => s with
                {
                    State = ZSwState.Loaded,
                    ProgressPercentage = 100,
                    Sha256 = tag.Annotations?.GetValueOrDefault(FileShaAnnotation) ?? tag.Digest.Hex,
                    ImageName = TagPrefix + tree.Uuid,
                    Error = null,
                    SizeBytes = s.SizeBytes > 0 ? s.SizeBytes : tag.Size,
                });
            }
            else
            {
                Statuses.Publish(entry.Status);
            }

            return;
        }

        Statuses.Publish(entry.Status);
        if (_pulls.IsBusy(tree.Uuid))
        {
            return;
        }

        // A changed datastore (say, fixed credentials) deserves an immediate retry.
        var sourceKey = SourceKey(tree, datastores);
        if (entry.Status.Error is not null && sourceKey == entry.LastSourceKey && Time.GetUtcNow() < entry.NextAttempt)
        {
            return;
        }

        entry.LastSourceKey = sourceKey;
        _pulls.TryStart(tree.Uuid, ct => PullAsync(entry, datastores, ct), e => LogPullBug(_logger, tree.Uuid, e));
    }

    private async Task PullAsync(Entry entry, IReadOnlyDictionary<string, DatastoreSpec> datastores, CancellationToken cancellationToken)
    {
        var tree = entry.Tree;
        try
        {
            if (HttpDiskSource.Serves(tree, datastores))
            {
                var disk = HttpDiskSource.Resolve(tree, datastores);
                try
                {
                    await DownloadDiskAsync(entry, disk, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is HttpRequestException or HttpIOException)
                {
                    // The network, not the device's disk; said here because an HTTP download does not resume, a registry pull does.
                    throw new HttpDatastoreException(
                        $"Download of {HttpDiskDownload.Redacted(disk.Url)} failed: {e.Message}. Retrying; the download starts over.", (e as HttpRequestException)?.StatusCode, e);
                }

                return;
            }

            var source = ContentSource.Resolve(tree, datastores);
            Update(entry, s => s with { State = ZSwState.ResolvingTag, Error = s.Error });
            using var http = DatastoreHttp.CreateClient(source.Datastore);
            using var client = new RegistryClient(RegistryOptions(source), http, _loggers.CreateLogger<RegistryClient>());
            var remote = await client.ResolveImageAsync(source.Reference, _options.Platform, cancellationToken).ConfigureAwait(false);
            var manifest = remote.ParsedManifest;
            var totalBytes = manifest.Layers.Prepend(manifest.Config).Sum(b => b.Size);
            Update(entry, s => s with { State = ZSwState.ResolvedTag, Sha256 = remote.Manifest.Digest.Hex, SizeBytes = totalBytes });

            var pinned = ImageReference.Parse($"{source.Reference.Name}@{remote.Manifest.Digest}");
            var limit = tree.MaxSizeBytes > 0 ? (long)Math.Min(tree.MaxSizeBytes, long.MaxValue) : _options.MaxContentBytes;
            var layout = await _store.GetLayoutAsync(cancellationToken).ConfigureAwait(false);
            Update(entry, s => s with { State = ZSwState.DownloadStarted, ProgressPercentage = 0 });
            var progress = new PercentProgress(totalBytes, percent =>
            {
                if (percent != entry.Status.ProgressPercentage)
                {
                    Update(entry, s => s with { ProgressPercentage = percent });
                }
            });
            var image = await new ImagePuller(client, new ImagePullOptions { MaxTotalBytes = limit })
                .PullAsync(pinned, layout, _options.Platform, progress, cancellationToken).ConfigureAwait(false);
            Update(entry, s => s with { State = ZSwState.Downloaded, ProgressPercentage = 100 });

            // Every blob was hashed while it streamed in; here we make sure they are all still in the store.
            Update(entry, s => s with { State = ZSwState.Verifying });
            var missing = image.Layers.Prepend(image.Manifest.Config).FirstOrDefault(b => !layout.HasBlob(b.Digest));
            if (missing is not null)
            {
                throw new UnsupportedContentException($"Blob {missing.Digest} of {pinned} vanished from the content store after download; it will be fetched again.");
            }

            Update(entry, s => s with { State = ZSwState.Verified });
            var annotations = new Dictionary<string, string> { [FingerprintAnnotation] = entry.Fingerprint };
            await layout.TagAsync(TagPrefix + tree.Uuid, image.ManifestDescriptor with { Annotations = annotations }, cancellationToken).ConfigureAwait(false);
            await layout.UntagAsync(image.Name, cancellationToken).ConfigureAwait(false);
            entry.Backoff.Reset();
            _storage.Succeeded(StorageArea);
            Update(entry, s => s with
            {
                State = ZSwState.Loaded,
                ImageName = TagPrefix + tree.Uuid,
                Sha256 = image.ManifestDescriptor.Digest.Hex,
                SizeBytes = totalBytes,
                Error = null,
            });
            LogLoaded(_logger, tree.Uuid, pinned.ToString(), totalBytes);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (Describe(e, entry.Tree) is { } description)
        {
            if (StorageHealth.IsStorageFailure(e))
            {
                _storage.Failed(StorageArea, e);
            }

            var delay = entry.Backoff.NextDelay();
            entry.NextAttempt = Time.GetUtcNow() + delay;
            Update(entry, s => s with { State = ZSwState.Error, Error = ObjectError.Since(s.Error, description, Time.GetUtcNow()) });
            LogFailed(_logger, tree.Uuid, description, delay.TotalSeconds);
            _ = WakeAfterAsync(delay, cancellationToken);
        }
    }

    /// <summary>
    /// A disk from an HTTP(S) datastore: streamed into the store and hashed on the way, compared with the tree's
    /// sha256, then stored as a one-layer disk artifact (what `outpost image push-disk` would have pushed), so the
    /// volume subsystem cannot tell it from a disk pulled from a registry. A download that fails keeps nothing; the
    /// next attempt starts over (web servers need not support ranges, and the file is unverified until complete).
    /// </summary>
    private async Task DownloadDiskAsync(Entry entry, HttpDiskSource source, CancellationToken cancellationToken)
    {
        var tree = entry.Tree;
        var limit = tree.MaxSizeBytes > 0 ? (long)Math.Min(tree.MaxSizeBytes, (ulong)_options.MaxContentBytes) : _options.MaxContentBytes;
        var layout = await _store.GetLayoutAsync(cancellationToken).ConfigureAwait(false);
        using var http = DatastoreHttp.CreateClient(source.Datastore);
        using var response = await HttpDiskDownload.OpenAsync(http, source, limit, cancellationToken).ConfigureAwait(false);
        // Without a Content-Length the controller's maxSizeBytes (the file's size, as EVE controllers set it) is the best guess.
        var totalBytes = response.Content.Headers.ContentLength ?? (long)Math.Min(tree.MaxSizeBytes, long.MaxValue);
        Update(entry, s => s with { State = ZSwState.DownloadStarted, ProgressPercentage = 0, Sha256 = source.Sha256.Hex, SizeBytes = totalBytes });
        var progress = new PercentProgress(totalBytes, percent =>
        {
            if (percent != entry.Status.ProgressPercentage)
            {
                Update(entry, s => s with { ProgressPercentage = percent });
            }
        });
        var temp = layout.NewTempBlobPath();
        var (digest, bytes) = await HttpDiskDownload.SaveAsync(response, source.Url, temp, limit, _options.StalledDownloadTimeout, progress, cancellationToken).ConfigureAwait(false);
        Update(entry, s => s with { State = ZSwState.Downloaded, ProgressPercentage = 100, SizeBytes = bytes });

        Update(entry, s => s with { State = ZSwState.Verifying });
        Descriptor manifest;
        try
        {
            if (digest != source.Sha256)
            {
                throw new DigestMismatchException($"the disk at {HttpDiskDownload.Redacted(source.Url)} (content tree {tree.Uuid})", source.Sha256.ToString(), digest.ToString());
            }

            // Checks the disk's header too, so a file that is not what the tree says is refused here rather than by QEMU.
            manifest = await DiskArtifact.AdoptAsync(layout, temp, digest, source.DiskFormat, HttpDiskDownload.Redacted(source.Url), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(temp);
        }

        Update(entry, s => s with { State = ZSwState.Verified });
        var annotations = new Dictionary<string, string> { [FingerprintAnnotation] = entry.Fingerprint, [FileShaAnnotation] = digest.Hex };
        await layout.TagAsync(TagPrefix + tree.Uuid, manifest with { Annotations = annotations }, cancellationToken).ConfigureAwait(false);
        entry.Backoff.Reset();
        _storage.Succeeded(StorageArea);
        Update(entry, s => s with
        {
            State = ZSwState.Loaded,
            ImageName = TagPrefix + tree.Uuid,
            Sha256 = digest.Hex,
            SizeBytes = bytes,
            Error = null,
        });
        LogLoaded(_logger, tree.Uuid, HttpDiskDownload.Redacted(source.Url), bytes);
    }

    private RegistryClientOptions RegistryOptions(ContentSource source)
    {
        var credentials = new Dictionary<string, RegistryCredentials>(StringComparer.OrdinalIgnoreCase);
        if (source.Datastore.Username.Length > 0 || source.Datastore.Password.Length > 0)
        {
            credentials[source.Reference.Registry] = new RegistryCredentials(source.Datastore.Username, source.Datastore.Password);
        }

        return new RegistryClientOptions { Credentials = credentials, MaxRetries = _options.RegistryRetries };
    }

    /// <summary>What to tell the controller; null for bugs, which should surface rather than be retried forever.</summary>
    private static string? Describe(Exception e, ContentTreeSpec tree) => e switch
    {
        ContentConfigException => e.Message,
        RegistryAuthException => e.Message,
        PlatformNotFoundException p =>
            $"{p.Message} This device is {p.Requested}; push an image built for it.",
        QuotaExceededException q =>
            $"{q.Message} (content tree {tree.Uuid} allows {q.LimitBytes} bytes; raise maxSizeBytes or use a smaller image)",
        OciException => e.Message,
        DatastoreTlsException => e.Message,
        HttpDatastoreException => e.Message,
        HttpRequestException h => $"Registry unreachable: {h.Message}. Retrying; a partial download resumes where it stopped.",
        IOException io when StorageHealth.IsDiskFull(io) =>
            $"The device is out of disk space ({io.Message}). The download resumes where it stopped once space is freed (delete unused apps or volumes).",
        IOException io => $"Download interrupted: {io.Message}. Retrying; a partial download resumes where it stopped.",
        UnauthorizedAccessException => e.Message,
        _ => null,
    };

    private async Task RemoveUnwantedAsync(
        IReadOnlyDictionary<string, ContentTreeSpec> trees, OciLayout layout, Dictionary<string, Descriptor> tags, CancellationToken cancellationToken)
    {
        List<Entry> gone;
        lock (_gate)
        {
            gone = _entries.Values.Where(e => !trees.ContainsKey(e.Tree.Uuid)).ToList();
            foreach (var entry in gone)
            {
                _pulls.Cancel(entry.Tree.Uuid);
                _entries.Remove(entry.Tree.Uuid);
            }
        }

        foreach (var uuid in tags.Keys.Where(u => !trees.ContainsKey(u)))
        {
            await layout.UntagAsync(TagPrefix + uuid, cancellationToken).ConfigureAwait(false);
            _collectGarbage = true;
        }

        foreach (var entry in gone)
        {
            Statuses.Remove(entry.Tree.Uuid);
            _collectGarbage = true;
        }

        // Collecting while a download runs (or waits to retry) would delete its .partial files and restart it from zero.
        bool busy;
        lock (_gate)
        {
            busy = _pulls.Count > 0 || _entries.Values.Any(e => !e.Status.IsLoaded);
        }

        if (_collectGarbage && !busy)
        {
            _collectGarbage = false;
            var freed = await layout.CollectGarbageAsync(TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
            if (freed > 0)
            {
                LogCollected(_logger, freed);
            }
        }
    }

    private void Update(Entry entry, Func<ContentStatus, ContentStatus> change)
    {
        ContentStatus status;
        lock (_gate)
        {
            entry.Status = change(entry.Status);
            status = entry.Status;
        }

        // A tree that left the config while its download ran must not come back on the bus.
        if (IsCurrent(entry))
        {
            Statuses.Publish(status);
        }
    }

    private bool IsCurrent(Entry entry)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(entry.Tree.Uuid, out var current) && ReferenceEquals(current, entry);
        }
    }

    private async Task WakeAfterAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, Time, cancellationToken).ConfigureAwait(false);
            Wake();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static string Fingerprint(ContentTreeSpec tree) =>
        $"{tree.Url}|{tree.Sha256}|{tree.GenerationCount}|{string.Join(",", tree.DatastoreIds)}|{tree.Format}";

    // Kept in memory only: it includes the password so that changed credentials are noticed.
    private static string SourceKey(ContentTreeSpec tree, IReadOnlyDictionary<string, DatastoreSpec> datastores) =>
        string.Join("\n", tree.DatastoreIds.Select(id => datastores.GetValueOrDefault(id)).Where(d => d is not null)
            .Select(d => $"{d!.Id}|{d.Fqdn}|{d.Path}|{d.Username}|{d.Password}|{string.Join("", d.CertificatesPem)}"));

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await _pulls.DrainAsync(cancel: true).ConfigureAwait(false);
    }

    private sealed class Entry(ContentTreeSpec tree, string fingerprint, ContentStatus status, ExponentialBackoff backoff)
    {
        public ContentTreeSpec Tree { get; } = tree;

        public string Fingerprint { get; } = fingerprint;

        public ContentStatus Status { get; set; } = status;

        public ExponentialBackoff Backoff { get; } = backoff;

        public DateTimeOffset NextAttempt { get; set; }

        public string? LastSourceKey { get; set; }
    }

    /// <summary>Turns bytes into whole percent, synchronously so reports stay in order.</summary>
    private sealed class PercentProgress(long total, Action<uint> report) : IProgress<long>
    {
        public void Report(long value) => report(total <= 0 ? 100 : (uint)Math.Clamp(value * 100 / total, 0, 100));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Content tree {Uuid} loaded: {Reference} ({Bytes} bytes)")]
    private static partial void LogLoaded(ILogger logger, string uuid, string reference, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Content tree {Uuid} failed: {Reason}; retrying in {DelaySeconds} s")]
    private static partial void LogFailed(ILogger logger, string uuid, string reason, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Content tree {Uuid}: the download failed unexpectedly")]
    private static partial void LogPullBug(ILogger logger, string uuid, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Content store: collected {Bytes} bytes of unused blobs")]
    private static partial void LogCollected(ILogger logger, long bytes);
}
