using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Configuration;
using Outpost.Agent.Timing;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Transfer;

namespace Outpost.Agent.Content;

/// <summary>
/// Brings the content store (an OCI layout at STATE/content) in line with the config's content trees. Each tree
/// that is not in the store gets one download task (resolve the tag, pull with progress, verify, tag it
/// <c>outpost/content/UUID</c>); the reconcile pass itself never waits for a download. Blobs already present are
/// skipped and a cut blob continues from its <c>.partial</c> file, so an agent killed mid-pull resumes on the next
/// start. Failures are reported as ERROR and retried with backoff. Trees that left the config are untagged and
/// their blobs collected once no download is in flight.
/// </summary>
public sealed partial class ContentReconciler(
    string storeDirectory,
    ContentStoreOptions options,
    ObjectInfoPublisher publisher,
    TimeProvider time,
    ILoggerFactory loggers) : IAsyncDisposable
{
    public const string TagPrefix = "outpost/content/";
    private const string FingerprintAnnotation = "io.outpost.content.source";

    private readonly ILogger _logger = loggers.CreateLogger<ContentReconciler>();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private OciLayout? _layout;
    private bool _collectGarbage = true;

    /// <summary>Raised when a download moved (progress, done, failed); the owner runs another pass.</summary>
    public event Action? Changed;

    public IReadOnlyDictionary<string, ContentStatus> Statuses
    {
        get
        {
            lock (_gate)
            {
                return _entries.ToDictionary(e => e.Key, e => e.Value.Status, StringComparer.OrdinalIgnoreCase);
            }
        }
    }

    /// <summary>The store, for the volume reconciler to unpack from.</summary>
    public async Task<OciLayout> GetLayoutAsync(CancellationToken cancellationToken) =>
        _layout ??= await OciLayout.CreateAsync(storeDirectory, cancellationToken).ConfigureAwait(false);

    public async Task ReconcileAsync(DesiredState desired, CancellationToken cancellationToken)
    {
        var layout = await GetLayoutAsync(cancellationToken).ConfigureAwait(false);
        var tags = (await layout.ReadIndexAsync(cancellationToken).ConfigureAwait(false)).Manifests
            .Where(m => m.RefName?.StartsWith(TagPrefix, StringComparison.Ordinal) == true)
            .ToDictionary(m => m.RefName![TagPrefix.Length..], StringComparer.OrdinalIgnoreCase);

        foreach (var tree in desired.ContentTrees.Values)
        {
            ReconcileTree(tree, desired, tags.GetValueOrDefault(tree.Uuid));
        }

        await RemoveUnwantedAsync(desired, layout, tags, cancellationToken).ConfigureAwait(false);
        foreach (var status in Statuses.Values)
        {
            publisher.Publish(status.ToInfo());
        }
    }

    private void ReconcileTree(ContentTreeSpec tree, DesiredState desired, Descriptor? tag)
    {
        var fingerprint = Fingerprint(tree);
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(tree.Uuid, out entry!) || entry.Fingerprint != fingerprint)
            {
                entry?.Cancel();
                entry = new Entry(tree, fingerprint, new ContentStatus(tree.Uuid, tree.DisplayName, tree.GenerationCount, ZSwState.Initial),
                    new ExponentialBackoff(options.RetryFirst, options.RetryMax));
                _entries[tree.Uuid] = entry;
            }
        }

        if (tag is not null && tag.Annotations?.GetValueOrDefault(FingerprintAnnotation) == fingerprint)
        {
            if (!entry.Status.IsLoaded)
            {
                // Loaded by an earlier run (or a download that just finished): nothing to fetch.
                entry.Status = entry.Status with
                {
                    State = ZSwState.Loaded,
                    ProgressPercentage = 100,
                    Sha256 = tag.Digest.Hex,
                    ImageName = TagPrefix + tree.Uuid,
                    Error = null,
                    SizeBytes = entry.Status.SizeBytes > 0 ? entry.Status.SizeBytes : tag.Size,
                };
            }

            return;
        }

        if (entry.Pull is { IsCompleted: false })
        {
            return;
        }

        // A changed datastore (say, fixed credentials) deserves an immediate retry.
        var sourceKey = SourceKey(tree, desired);
        if (entry.Status.Error is not null && sourceKey == entry.LastSourceKey && time.GetUtcNow() < entry.NextAttempt)
        {
            return;
        }

        entry.LastSourceKey = sourceKey;
        entry.Pull = Task.Run(() => PullAsync(entry, desired, entry.Cancellation.Token));
    }

    private async Task PullAsync(Entry entry, DesiredState desired, CancellationToken cancellationToken)
    {
        var tree = entry.Tree;
        try
        {
            var source = ContentSource.Resolve(tree, desired.Datastores);
            Update(entry, s => s with { State = ZSwState.ResolvingTag, Error = s.Error });
            using var http = DatastoreHttp.CreateClient(source.Datastore);
            using var client = new RegistryClient(RegistryOptions(source), http, loggers.CreateLogger<RegistryClient>());
            var remote = await client.ResolveImageAsync(source.Reference, options.Platform, cancellationToken).ConfigureAwait(false);
            var manifest = remote.ParsedManifest;
            var totalBytes = manifest.Layers.Prepend(manifest.Config).Sum(b => b.Size);
            Update(entry, s => s with { State = ZSwState.ResolvedTag, Sha256 = remote.Manifest.Digest.Hex, SizeBytes = totalBytes });

            var pinned = ImageReference.Parse($"{source.Reference.Name}@{remote.Manifest.Digest}");
            var limit = tree.MaxSizeBytes > 0 ? (long)Math.Min(tree.MaxSizeBytes, long.MaxValue) : options.MaxContentBytes;
            var layout = await GetLayoutAsync(cancellationToken).ConfigureAwait(false);
            Update(entry, s => s with { State = ZSwState.DownloadStarted, ProgressPercentage = 0 });
            var progress = new PercentProgress(totalBytes, percent =>
            {
                if (percent != entry.Status.ProgressPercentage)
                {
                    Update(entry, s => s with { ProgressPercentage = percent });
                }
            });
            var image = await new ImagePuller(client, new ImagePullOptions { MaxTotalBytes = limit })
                .PullAsync(pinned, layout, options.Platform, progress, cancellationToken).ConfigureAwait(false);
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
            var delay = entry.Backoff.NextDelay();
            entry.NextAttempt = time.GetUtcNow() + delay;
            Update(entry, s => s with { State = ZSwState.Error, Error = ObjectError.Since(s.Error, description, time.GetUtcNow()) });
            LogFailed(_logger, tree.Uuid, description, delay.TotalSeconds);
            _ = WakeAfterAsync(delay, cancellationToken);
        }
    }

    private RegistryClientOptions RegistryOptions(ContentSource source)
    {
        var credentials = new Dictionary<string, RegistryCredentials>(StringComparer.OrdinalIgnoreCase);
        if (source.Datastore.Username.Length > 0 || source.Datastore.Password.Length > 0)
        {
            credentials[source.Reference.Registry] = new RegistryCredentials(source.Datastore.Username, source.Datastore.Password);
        }

        return new RegistryClientOptions { Credentials = credentials, MaxRetries = options.RegistryRetries };
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
        HttpRequestException h => $"Registry unreachable: {h.Message}. Retrying; a partial download resumes where it stopped.",
        IOException io => $"Download interrupted: {io.Message}. Retrying; a partial download resumes where it stopped.",
        UnauthorizedAccessException => e.Message,
        _ => null,
    };

    private async Task RemoveUnwantedAsync(DesiredState desired, OciLayout layout, Dictionary<string, Descriptor> tags, CancellationToken cancellationToken)
    {
        List<Entry> gone;
        lock (_gate)
        {
            gone = _entries.Values.Where(e => !desired.ContentTrees.ContainsKey(e.Tree.Uuid)).ToList();
            foreach (var entry in gone)
            {
                entry.Cancel();
                _entries.Remove(entry.Tree.Uuid);
            }
        }

        foreach (var uuid in tags.Keys.Where(u => !desired.ContentTrees.ContainsKey(u)))
        {
            await layout.UntagAsync(TagPrefix + uuid, cancellationToken).ConfigureAwait(false);
            _collectGarbage = true;
        }

        foreach (var entry in gone)
        {
            var info = new ZInfoContentTree { Uuid = entry.Tree.Uuid };
            publisher.Publish(info);
            _collectGarbage = true;
        }

        // Collecting while a download runs (or waits to retry) would delete its .partial files and restart it from zero;
        // so would collecting before the first config arrived, when every wanted tree still looks unwanted.
        bool busy;
        lock (_gate)
        {
            busy = desired.ConfigHash.Length == 0 || _entries.Values.Any(e => !e.Status.IsLoaded);
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
        lock (_gate)
        {
            entry.Status = change(entry.Status);
        }

        publisher.Publish(entry.Status.ToInfo());
        Changed?.Invoke();
    }

    private async Task WakeAfterAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            Changed?.Invoke();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static string Fingerprint(ContentTreeSpec tree) =>
        $"{tree.Url}|{tree.Sha256}|{tree.GenerationCount}|{string.Join(",", tree.DatastoreIds)}|{tree.Format}";

    // Kept in memory only: it includes the password so that changed credentials are noticed.
    private static string SourceKey(ContentTreeSpec tree, DesiredState desired) =>
        string.Join("\n", tree.DatastoreIds.Select(id => desired.Datastores.GetValueOrDefault(id)).Where(d => d is not null)
            .Select(d => $"{d!.Id}|{d.Fqdn}|{d.Path}|{d.Username}|{d.Password}|{string.Join("", d.CertificatesPem)}"));

    public async ValueTask DisposeAsync()
    {
        List<Task> pulls;
        lock (_gate)
        {
            foreach (var entry in _entries.Values)
            {
                entry.Cancel();
            }

            pulls = _entries.Values.Select(e => e.Pull).OfType<Task>().ToList();
        }

        await Task.WhenAll(pulls).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private sealed class Entry(ContentTreeSpec tree, string fingerprint, ContentStatus status, ExponentialBackoff backoff)
    {
        public ContentTreeSpec Tree { get; } = tree;

        public string Fingerprint { get; } = fingerprint;

        public ContentStatus Status { get; set; } = status;

        public ExponentialBackoff Backoff { get; } = backoff;

        public CancellationTokenSource Cancellation { get; } = new();

        public Task? Pull { get; set; }

        public DateTimeOffset NextAttempt { get; set; }

        public string? LastSourceKey { get; set; }

        public void Cancel() => Cancellation.Cancel();
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Content store: collected {Bytes} bytes of unused blobs")]
    private static partial void LogCollected(ILogger logger, long bytes);
}
