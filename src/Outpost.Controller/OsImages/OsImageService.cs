using System.Globalization;
using System.Reflection;
using Google.Protobuf.Reflection;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Api.OsImages;
using Outpost.Controller.Apps;
using Outpost.Controller.Configs;
using Outpost.Controller.Pki;
using Outpost.Controller.Registry;
using Outpost.Controller.Storage;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;

namespace Outpost.Controller.OsImages;

/// <summary>
/// Base-OS updates in EVE's object model: the OS versions in the controller's registry (<see cref="OsImageArtifact.Repository"/>),
/// and per device EdgeDevConfig.baseos (field 26) naming a ContentTree that pins the version's manifest digest in
/// that registry, with the datastore the device reaches it through, plus the config items that steer the A/B switch
/// (force.fallback.counter; Outpost's outpost.baseos.manual.commit and outpost.baseos.commit.counter).
/// </summary>
public sealed class OsImageService(IControllerStore store, DeviceConfigService configs, ControllerPki pki, ControllerRuntime runtime, ControllerOptions options)
{
    public const string ForceFallbackCounterKey = "force.fallback.counter";
    public const string ManualCommitKey = "outpost.baseos.manual.commit";
    public const string CommitCounterKey = "outpost.baseos.commit.counter";

    /// <summary>The name of the datastore made for the controller's own registry when no saved datastore points at it.</summary>
    public const string ControllerDatastoreName = "outpost-controller";

    private static readonly string[] RequiredLayers =
        [OsImageArtifact.RootfsMediaType, OsImageArtifact.KernelMediaType, OsImageArtifact.InitrdMediaType, OsImageArtifact.SignatureMediaType];

    private readonly LayoutRegistry _registry = new(Path.Combine(options.DataDirectory, RegistryEndpoints.LayoutFolder));

    /// <summary>Every tag of outpost/os, ordered; an empty list when nothing was pushed yet.</summary>
    public async Task<IReadOnlyList<OsImageView>> ListAsync(CancellationToken ct)
    {
        IReadOnlyList<string> tags;
        try
        {
            tags = await _registry.ListTagsAsync(OsImageArtifact.Repository, ct);
        }
        catch (RegistryLookupException)
        {
            return [];
        }

        var views = new List<OsImageView>();
        foreach (var tag in tags)
        {
            try
            {
                views.Add(await DescribeAsync(tag, ct));
            }
            catch (RegistryLookupException e)
            {
                views.Add(new OsImageView(tag, "", 0, false, e.Message));
            }
        }

        return views;
    }

    /// <summary>The pushed version <paramref name="version"/>, checked to be an Outpost OS image devices can install.</summary>
    /// <exception cref="OsRequestException">No such version, or not an OS image.</exception>
    public async Task<OsImageView> FindAsync(string version, CancellationToken ct)
    {
        OsImageView view;
        try
        {
            view = await DescribeAsync(version, ct);
        }
        catch (RegistryLookupException)
        {
            var known = (await ListAsync(ct)).Select(v => v.Version).ToList();
            throw new OsRequestException($"No OS version '{version}' in the controller's registry ({OsImageArtifact.Repository}:{version}); "
                + $"push it with `outpost os push DIR --version {version}`. "
                + (known.Count == 0 ? "No OS version has been pushed yet." : $"Pushed versions: {string.Join(", ", known)}."));
        }

        return view.Problem is { } problem
            ? throw new OsRequestException($"{OsImageArtifact.Repository}:{version} cannot be installed: {problem}")
            : view;
    }

    /// <summary>Sets the device's desired OS (EdgeDevConfig.baseos and its content tree and datastore).</summary>
    public async Task<DeviceOsView> SetDesiredAsync(Guid deviceId, SetDeviceOsRequest request, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Version))
        {
            throw new OsRequestException("Give the OS version to run (--version); `outpost os list` shows the pushed ones.");
        }

        var image = await FindAsync(request.Version, ct);
        var datastore = await DatastoreAsync(request.Datastore, ct);
        var tree = ContentTreeId(image.Version);
        await configs.UpdateAsync(deviceId, config =>
        {
            var retry = config.Baseos?.RetryUpdate?.Counter ?? 0;
            RemoveOsContent(config);
            AppService.UpsertDatastore(config, datastore);
            var reference = $"{OsImageArtifact.Repository}:{image.Version}";
            config.ContentInfo.Add(new ContentTree
            {
                Uuid = tree,
                DsId = datastore.Id.ToString(),
                DsIdsList = { datastore.Id.ToString() },
                URL = reference,
                Iformat = Format.Container,
                Sha256 = OciDigest.Parse(image.Digest).Hex,
                DisplayName = reference,
            });
            config.Baseos = new BaseOS
            {
                ContentTreeUuid = tree,
                // Kept across versions: EVE compares it with the counter of the failure it remembers.
                RetryUpdate = new DeviceOpsCmd { Counter = retry },
                Activate = !request.DownloadOnly,
                BaseOsVersion = image.Version,
            };
            SetItem(config, ManualCommitKey, request.ManualCommit ? "true" : null);
        }, ct);
        return await ViewAsync(deviceId, ct);
    }

    /// <summary>Removes the desired OS: the device keeps what it runs and is asked for nothing.</summary>
    public async Task<DeviceOsView> ClearAsync(Guid deviceId, CancellationToken ct)
    {
        await configs.UpdateAsync(deviceId, config =>
        {
            RemoveOsContent(config);
            config.Baseos = null;
            SetItem(config, ManualCommitKey, null);
        }, ct);
        return await ViewAsync(deviceId, ct);
    }

    /// <summary>Bumps baseos.retry_update.counter: EVE tries a version that failed once more.</summary>
    public async Task<OsCounterView> RetryAsync(Guid deviceId, CancellationToken ct)
    {
        uint counter = 0;
        await configs.UpdateAsync(deviceId, config =>
        {
            var baseos = config.Baseos
                ?? throw new OsRequestException("The device has no desired OS to retry; set one with `outpost device update DEVICE --version V`.");
            baseos.RetryUpdate ??= new DeviceOpsCmd();
            counter = ++baseos.RetryUpdate.Counter;
        }, ct);
        return new OsCounterView("retry", "baseos.retry_update.counter", counter, null);
    }

    /// <summary>Bumps force.fallback.counter: the device boots back into the other (previous) slot.</summary>
    public async Task<OsCounterView> RollbackAsync(Guid deviceId, CancellationToken ct)
    {
        uint counter = 0;
        string? desired = null;
        await configs.UpdateAsync(deviceId, config =>
        {
            counter = BumpItem(config, ForceFallbackCounterKey);
            desired = config.Baseos?.BaseOsVersion;
        }, ct);
        var note = desired is null
            ? null
            : $"The device's desired OS is still {desired}; set it to the version it falls back to (`outpost device update DEVICE --version V`) or clear it (`--clear`).";
        return new OsCounterView("rollback", ForceFallbackCounterKey, counter, note);
    }

    /// <summary>Bumps outpost.baseos.commit.counter: a device holding an update for a manual commit commits it.</summary>
    public async Task<OsCounterView> CommitAsync(Guid deviceId, CancellationToken ct)
    {
        uint counter = 0;
        var manual = false;
        await configs.UpdateAsync(deviceId, config =>
        {
            counter = BumpItem(config, CommitCounterKey);
            manual = IsTrue(Item(config, ManualCommitKey));
        }, ct);
        var note = manual ? null : $"The device's update is not held for a manual commit ({ManualCommitKey} is not set): it commits by itself after its test window.";
        return new OsCounterView("commit", CommitCounterKey, counter, note);
    }

    /// <summary>What the controller asks of the device's OS and what the device last reported about its slots.</summary>
    public async Task<DeviceOsView> ViewAsync(Guid deviceId, CancellationToken ct)
    {
        var config = await configs.GetAsync(deviceId, ct) ?? throw new DeviceNotFoundException(deviceId.ToString());
        ZInfoDevice? info = null;
        foreach (var record in await store.LatestInfoAsync(deviceId, ct))
        {
            if (record.ObjectKey == "device" && ZInfoMsg.Parser.ParseFrom(record.Message).Dinfo is { } dinfo)
            {
                info = dinfo;
            }
        }

        return View(config, info);
    }

    internal static DeviceOsView View(EdgeDevConfig config, ZInfoDevice? info)
    {
        DesiredOsView? desired = null;
        if (config.Baseos is { } baseos)
        {
            var tree = config.ContentInfo.FirstOrDefault(c => string.Equals(c.Uuid, baseos.ContentTreeUuid, StringComparison.OrdinalIgnoreCase));
            desired = new DesiredOsView(baseos.BaseOsVersion, baseos.Activate, IsTrue(Item(config, ManualCommitKey)), baseos.RetryUpdate?.Counter ?? 0,
                baseos.ContentTreeUuid, tree?.URL ?? "", tree?.Sha256 ?? "");
        }

        var slots = info?.SwList.Select(sw => new OsSlotView(sw.PartitionLabel, sw.PartitionState, sw.Activated, sw.ShortVersion, sw.LongVersion,
            ProtoName(sw.Status), ProtoName(sw.UserStatus), ProtoName(sw.SubStatus), sw.SubStatusStr, sw.SubStatusProgress, sw.DownloadProgress,
            sw.SwErr is { Description.Length: > 0 } error ? error.Description : null)).ToList() ?? [];
        return new DeviceOsView(desired, Counter(Item(config, CommitCounterKey)), Counter(Item(config, ForceFallbackCounterKey)),
            info?.BaseosUpdateCounter, slots);
    }

    /// <summary>One content tree per version, the same on every device, so configs only change when the version does.</summary>
    public static string ContentTreeId(string version) => AppService.DeterministicGuid("outpost-os:" + version).ToString();

    private async Task<OsImageView> DescribeAsync(string version, CancellationToken ct)
    {
        var served = await _registry.GetManifestAsync(OsImageArtifact.Repository, version, ct);
        if (!MediaTypes.IsManifest(served.MediaType))
        {
            return new OsImageView(version, served.Digest.ToString(), 0, false, $"it is an index ({served.MediaType}), not an OS image manifest; push it with `outpost os push`.");
        }

        ImageManifest manifest;
        try
        {
            manifest = OciJson.Deserialize<ImageManifest>(served.Content, $"{OsImageArtifact.Repository}:{version}");
        }
        catch (UnsupportedContentException e)
        {
            return new OsImageView(version, served.Digest.ToString(), 0, false, e.Message);
        }

        var size = manifest.Layers.Sum(l => l.Size) + manifest.Config.Size;
        var signed = manifest.Layers.Any(l => l.MediaType == OsImageArtifact.SignatureMediaType);
        var missing = RequiredLayers.Where(type => !manifest.Layers.Any(l => l.MediaType == type)).ToList();
        var problem = missing.Count == 0 ? null : $"it has no {string.Join(", ", missing)} layer; push an image folder with `outpost os push`.";
        return new OsImageView(version, served.Digest.ToString(), size, signed, problem);
    }

    /// <summary>
    /// The named datastore, else a saved registry datastore that points at this controller as devices reach it (the
    /// lab's, the demo's: saving it again updates the devices), else one made here for that address with the root.
    /// </summary>
    private async Task<DatastoreRecord> DatastoreAsync(string? name, CancellationToken ct)
    {
        var datastores = await store.ListDatastoresAsync(ct);
        if (name is not null)
        {
            return datastores.FirstOrDefault(d => d.Name == name)
                ?? throw new OsRequestException($"No datastore named '{name}'. List them with `outpost datastore list`, or leave --datastore out to use the controller's own registry.");
        }

        var address = pki.AdvertisedNames.Count > 0 ? AdvertisedNames.ServerAddress(pki.AdvertisedNames[0], runtime.Port) : runtime.ServerAddress;
        return datastores.FirstOrDefault(d => IsRegistryAt(d.Url, address) && d.CertificatePem is { Length: > 0 })
            ?? new DatastoreRecord(AppService.DeterministicGuid("controller-registry:" + address), ControllerDatastoreName, "docker://" + address, null, null, pki.RootPem);
    }

    private static bool IsRegistryAt(string url, string address) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "docker" or "oci"
        && string.Equals(uri.Authority, address, StringComparison.OrdinalIgnoreCase) && uri.AbsolutePath.Trim('/').Length == 0;

    /// <summary>Drops the content tree the current baseos names, unless a volume uses it too.</summary>
    private static void RemoveOsContent(EdgeDevConfig config)
    {
        if (config.Baseos?.ContentTreeUuid is not { Length: > 0 } id)
        {
            return;
        }

        var usedByVolumes = config.Volumes.Any(v => string.Equals(v.Origin?.DownloadContentTreeID, id, StringComparison.OrdinalIgnoreCase));
        foreach (var tree in config.ContentInfo.Where(c => string.Equals(c.Uuid, id, StringComparison.OrdinalIgnoreCase) && !usedByVolumes).ToList())
        {
            config.ContentInfo.Remove(tree);
        }
    }

    private static string? Item(EdgeDevConfig config, string key) => config.ConfigItems.FirstOrDefault(i => i.Key == key)?.Value;

    /// <summary>Sets a config item, or removes it when <paramref name="value"/> is null.</summary>
    private static void SetItem(EdgeDevConfig config, string key, string? value)
    {
        var existing = config.ConfigItems.FirstOrDefault(i => i.Key == key);
        if (value is null)
        {
            if (existing is not null)
            {
                config.ConfigItems.Remove(existing);
            }
        }
        else if (existing is null)
        {
            config.ConfigItems.Add(new ConfigItem { Key = key, Value = value });
        }
        else
        {
            existing.Value = value;
        }
    }

    /// <summary>A counter item goes up by one; absent or unreadable counts as 0 (the device's default), so the first bump is 1.</summary>
    private static uint BumpItem(EdgeDevConfig config, string key)
    {
        var next = Counter(Item(config, key)) + 1;
        SetItem(config, key, next.ToString(CultureInfo.InvariantCulture));
        return next;
    }

    private static uint Counter(string? value) => uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var counter) ? counter : 0;

    private static bool IsTrue(string? value) => value?.Trim().ToLowerInvariant() is "true" or "1";

    /// <summary>An enum value by its name in the .proto file (what EVE's tools and protobuf JSON show).</summary>
    private static string ProtoName<T>(T value)
        where T : struct, Enum =>
        typeof(T).GetField(value.ToString())?.GetCustomAttribute<OriginalNameAttribute>()?.Name ?? value.ToString();
}

/// <summary>An OS request the controller cannot carry out as given (unknown version, no desired OS to retry...).</summary>
public sealed class OsRequestException(string message) : Exception(message);
