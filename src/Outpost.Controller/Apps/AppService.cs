using System.Text;
using Google.Protobuf;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Api.Consoles;
using Outpost.Controller.Configs;
using Outpost.Controller.Storage;
using Outpost.Oci.Errors;
using Outpost.Oci.References;

namespace Outpost.Controller.Apps;

/// <summary>
/// Turns "run this image on that device" into EVE's object model in the device's config: a DatastoreConfig
/// for the registry, a ContentTree for the image, a Volume created from it and an AppInstanceConfig that
/// references the volume. Lifecycle actions are EVE's: activate for start/stop, counters for restart/purge.
/// </summary>
public sealed class AppService(IControllerStore store, DeviceConfigService configs)
{
    /// <summary>EVE reads container environment from userData lines KEY=VALUE; this variable overrides the command.</summary>
    public const string CommandOverrideVariable = "EVE_ECO_CMD";

    public async Task<AppView> DeployAsync(Guid deviceId, DeployAppRequest request, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Name))
        {
            throw new AppRequestException("Give the app a --name.");
        }

        if (request.Image is { } url && HttpDiskImage.IsUrl(url))
        {
            return await DeployHttpDiskAsync(deviceId, request, url, ct);
        }

        var vm = request.Vm is { } settings ? PlanVm(request, settings) : null;
        if (string.IsNullOrWhiteSpace(request.Image))
        {
            throw new AppRequestException("Give the app an --image: an OCI image reference such as 127.0.0.1:5000/hello:1.");
        }

        ImageReference reference;
        try
        {
            reference = ImageReference.Parse(request.Image);
        }
        catch (InvalidImageReferenceException e)
        {
            throw new AppRequestException(e.Message);
        }

        var datastores = await store.ListDatastoresAsync(ct);
        var datastore = request.Datastore is { } named
            ? datastores.FirstOrDefault(d => d.Name == named) ?? throw new AppRequestException($"No datastore named '{named}'. Add it with `outpost datastore add`.")
            : datastores.FirstOrDefault(d => RegistryOf(d.Url) == reference.Registry)
              ?? new DatastoreRecord(DeterministicGuid("datastore:" + reference.Registry), reference.Registry, "docker://" + reference.Registry, null, null, null);
        var content = RegistryContent(reference, Format.Container);
        return await AddAppAsync(deviceId, request, vm, datastore, content, ct);
    }

    /// <summary>
    /// A VM whose disk is a file on an HTTP(S) datastore, as EVE has it: the content tree names the datastore and the
    /// path below it, and carries the file's sha256 and size (maxSizeBytes), which the controller learns by reading
    /// the file once; the device trusts the download only if it hashes the same.
    /// </summary>
    private async Task<AppView> DeployHttpDiskAsync(Guid deviceId, DeployAppRequest request, string url, CancellationToken ct)
    {
        if (request.Vm is not { } settings)
        {
            throw new AppRequestException(
                $"{url} is a disk image on a web server, which only a VM app boots: add --vm. A container image comes from an OCI registry (--image HOST/REPO:TAG).");
        }

        var disk = HttpDiskImage.Locate(url, request.Datastore, await store.ListDatastoresAsync(ct), settings.DiskFormat);
        var vm = PlanVm(request, settings with { DiskFormat = disk.DiskFormat });
        var (sha256, size) = await disk.MeasureAsync(HttpDiskImage.MaxBytes, ct);
        var content = new ContentTree { URL = disk.RelativeUrl, Sha256 = sha256, MaxSizeBytes = (ulong)size, DisplayName = url };
        return await AddAppAsync(deviceId, request, vm, disk.Datastore, content, ct);
    }

    /// <summary>Adds the app, its root volume and the content tree <paramref name="template"/> describes (from <paramref name="datastore"/>) to the device's config.</summary>
    private async Task<AppView> AddAppAsync(Guid deviceId, DeployAppRequest request, VmPlan? vm, DatastoreRecord datastore, ContentTree template, CancellationToken ct)
    {
        var restart = ParseRestartPolicy(request.Restart);
        var isolated = ParseIsolation(request.Isolation, vm is not null);

        var appId = Guid.NewGuid();
        var contentId = Guid.NewGuid();
        var volumeId = Guid.NewGuid();
        var config = await configs.UpdateAsync(deviceId, config =>
        {
            if (config.Apps.Any(a => a.Displayname == request.Name))
            {
                throw new AppRequestException($"An app named '{request.Name}' already runs on this device; delete it first or pick another name.");
            }

            UpsertDatastore(config, datastore);
            var content = template.Clone();
            content.Uuid = contentId.ToString();
            content.DsId = datastore.Id.ToString();
            content.DsIdsList.Add(datastore.Id.ToString());
            var volume = new Volume
            {
                Uuid = volumeId.ToString(),
                Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = contentId.ToString() },
                DisplayName = request.Name + "-root",
            };
            var instance = new AppInstanceConfig
            {
                Uuidandversion = new UUIDandVersion { Uuid = appId.ToString(), Version = "1" },
                Displayname = request.Name,
                Fixedresources = new VmConfig
                {
                    Memory = (uint)Math.Max(1, (request.MemoryBytes ?? 256L * 1024 * 1024) / 1024),
                    Vcpus = (uint)(request.Cpus ?? 1),
                    // EVE's modes for an OCI app: NOHYPER runs it as a container, HVM in a VM of its own.
                    VirtualizationMode = isolated ? VmMode.Hvm : VmMode.Nohyper,
                },
                Activate = true,
                VolumeRefList = { new VolumeRef { Uuid = volumeId.ToString(), GenerationCount = 0 } },
                UserData = EncodeUserData(request.Environment, request.Command),
                Restart = new InstanceOpsCmd(),
                Purge = new InstanceOpsCmd(),
                Outpost = new OutpostAppOptions { RestartPolicy = restart },
            };
            // A VM takes its disk format, size, resources and cloud-init from the plan; a container keeps the above.
            vm?.Apply(config, content, volume, instance);
            config.ContentInfo.Add(content);
            config.Volumes.Add(volume);
            if (vm is { Kernel: not null })
            {
                if (!IsRegistry(new Uri(datastore.Url)))
                {
                    throw new AppRequestException("A kernel to boot directly (--kernel) comes from the image's registry; deploy the disk from a registry too.");
                }

                vm.AddBootFiles(config, instance, datastore.Id.ToString(), RegistryOf(datastore.Url));
            }

            config.Apps.Add(instance);
        }, ct);
        return View(config, config.Apps.Single(a => a.Uuidandversion.Uuid == appId.ToString()), null);
    }

    /// <summary>Checks a VM deploy: the container-only fields are refused rather than silently dropped.</summary>
    private static VmPlan PlanVm(DeployAppRequest request, VmSettings settings)
    {
        if (string.IsNullOrWhiteSpace(request.Image))
        {
            throw new AppRequestException(
                "A VM app boots from a disk image: give --image, the registry reference of its disk artifact (push one with `outpost image push-disk FILE --format qcow2 REF`).");
        }

        if (request.MemoryBytes is not null || request.Cpus is not null)
        {
            throw new AppRequestException("A VM app's memory and vCPUs are vm.memoryMiB and vm.vcpus; leave memoryBytes and cpus out.");
        }

        if (request.Environment is { Count: > 0 } || request.Command is { Count: > 0 })
        {
            throw new AppRequestException("A VM app has no container environment or command; pass settings to the guest with vm.cloudInit (--cloud-init FILE).");
        }

        return VmPlan.From(settings);
    }

    public async Task<IReadOnlyList<AppView>> ListAsync(Guid deviceId, CancellationToken ct)
    {
        var config = await configs.GetAsync(deviceId, ct) ?? throw new DeviceNotFoundException(deviceId.ToString());
        var infos = await AppInfosAsync(deviceId, ct);
        return config.Apps.Select(app => View(config, app, infos.GetValueOrDefault(app.Uuidandversion.Uuid))).ToList();
    }

    public async Task<AppView> ActAsync(Guid deviceId, string app, AppAction action, CancellationToken ct)
    {
        var config = await configs.UpdateAsync(deviceId, config =>
        {
            var instance = Find(config, app);
            switch (action)
            {
                case AppAction.Start:
                    instance.Activate = true;
                    break;
                case AppAction.Stop:
                    instance.Activate = false;
                    break;
                case AppAction.Restart:
                    instance.Restart ??= new InstanceOpsCmd();
                    instance.Restart.Counter++;
                    break;
                case AppAction.Purge:
                    // EVE recreates the first volume from its origin when the purge counter changes.
                    instance.Purge ??= new InstanceOpsCmd();
                    instance.Purge.Counter++;
                    if (instance.VolumeRefList.FirstOrDefault() is { } first)
                    {
                        first.GenerationCount++;
                        var volume = config.Volumes.FirstOrDefault(v => v.Uuid == first.Uuid);
                        if (volume is not null)
                        {
                            volume.GenerationCount = first.GenerationCount;
                        }
                    }

                    break;
            }

            instance.Uuidandversion.Version = (long.Parse(instance.Uuidandversion.Version is { Length: > 0 } v ? v : "0") + 1).ToString();
        }, ct);
        var instance = Find(config, app);
        return View(config, instance, (await AppInfosAsync(deviceId, ct)).GetValueOrDefault(instance.Uuidandversion.Uuid));
    }

    /// <summary>Removes the app, its volumes and the content trees nothing else uses.</summary>
    public async Task DeleteAsync(Guid deviceId, string app, CancellationToken ct) =>
        await configs.UpdateAsync(deviceId, config =>
        {
            var instance = Find(config, app);
            config.Apps.Remove(instance);
            var volumeIds = instance.VolumeRefList.Select(v => v.Uuid).ToHashSet();
            var stillUsedVolumes = config.Apps.SelectMany(a => a.VolumeRefList).Select(v => v.Uuid).ToHashSet();
            foreach (var volume in config.Volumes.Where(v => volumeIds.Contains(v.Uuid) && !stillUsedVolumes.Contains(v.Uuid)).ToList())
            {
                config.Volumes.Remove(volume);
            }

            // The base OS's content tree is used by config.baseos, not by a volume.
            var usedContent = config.Volumes.Select(v => v.Origin?.DownloadContentTreeID).Append(config.Baseos?.ContentTreeUuid).ToHashSet();
            foreach (var content in config.ContentInfo.Where(c => !usedContent.Contains(c.Uuid)).ToList())
            {
                config.ContentInfo.Remove(content);
            }

            VmAdapters.Release(instance, config);
        }, ct);

    /// <summary>Resolves an app by UUID or display name; the id is what log queries use.</summary>
    public async Task<Guid> ResolveAsync(Guid deviceId, string app, CancellationToken ct)
    {
        var config = await configs.GetAsync(deviceId, ct) ?? throw new DeviceNotFoundException(deviceId.ToString());
        return Guid.TryParse(Find(config, app).Uuidandversion?.Uuid, out var id) ? id : throw new AppNotFoundException(app);
    }

    /// <summary>The app a console session is for, and whether its config offers that console (EVE's remoteConsole, enable_vnc).</summary>
    public async Task<(Guid Id, bool Offered)> ConsoleTargetAsync(Guid deviceId, string app, ConsoleKind kind, CancellationToken ct)
    {
        var config = await configs.GetAsync(deviceId, ct) ?? throw new DeviceNotFoundException(deviceId.ToString());
        var instance = Find(config, app);
        var offered = kind == ConsoleKind.Vnc ? instance.Fixedresources?.EnableVnc ?? false : instance.RemoteConsole;
        return Guid.TryParse(instance.Uuidandversion?.Uuid, out var id) ? (id, offered) : throw new AppNotFoundException(app);
    }

    public async Task<DatastoreView> SaveDatastoreAsync(CreateDatastoreRequest request, CancellationToken ct)
    {
        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out var url) || url.Scheme is not ("docker" or "oci" or "http" or "https"))
        {
            throw new AppRequestException($"Datastore URL '{request.Url}' must be docker://HOST[:PORT] (OCI registry) or http(s)://HOST[:PORT]/PATH.");
        }

        // The type is not stored: the scheme says it (UpsertDatastore), so a given type can only confirm it.
        var schemeType = url.Scheme is "http" or "https" ? "http" : "oci";
        if (request.Type is { } type && !string.Equals(type.Trim(), schemeType, StringComparison.OrdinalIgnoreCase))
        {
            throw new AppRequestException(type.Trim().ToLowerInvariant() is "http" or "oci"
                ? $"Datastore type '{type}' contradicts its URL {request.Url}, which is {(schemeType == "http" ? "a web server (http)" : "an OCI registry (oci)")}: "
                  + "an http datastore has an http:// or https:// URL, an oci one docker://HOST[:PORT]. Fix --type or --url."
                : $"Unknown datastore type '{type}'; use http (a web server) or oci (an OCI registry).");
        }

        var existing = (await store.ListDatastoresAsync(ct)).FirstOrDefault(d => d.Name == request.Name);
        var record = new DatastoreRecord(existing?.Id ?? Guid.NewGuid(), request.Name, request.Url, request.Username, request.Password, request.CertificatePem);
        await store.SaveDatastoreAsync(record, ct);

        // Devices that already use this datastore get the new settings (e.g. rotated credentials).
        foreach (var device in await store.ListDevicesAsync(ct))
        {
            var config = await configs.GetAsync(device.Id, ct);
            if (config?.Datastores.Any(d => d.Id == record.Id.ToString()) == true)
            {
                await configs.UpdateAsync(device.Id, c => UpsertDatastore(c, record), ct);
            }
        }

        return ToView(record);
    }

    public async Task<IReadOnlyList<DatastoreView>> ListDatastoresAsync(CancellationToken ct) =>
        (await store.ListDatastoresAsync(ct)).Select(ToView).ToList();

    private static DatastoreView ToView(DatastoreRecord record) =>
        new(record.Id, record.Name, record.Url, record.Username, !string.IsNullOrEmpty(record.Password));

    internal static void UpsertDatastore(EdgeDevConfig config, DatastoreRecord datastore)
    {
        var existing = config.Datastores.FirstOrDefault(d => d.Id == datastore.Id.ToString());
        if (existing is not null)
        {
            config.Datastores.Remove(existing);
        }

        var url = new Uri(datastore.Url);
        var isRegistry = IsRegistry(url);
        var entry = new DatastoreConfig
        {
            Id = datastore.Id.ToString(),
            DType = isRegistry ? DsType.DsContainerRegistry : url.Scheme == "https" ? DsType.DsHttps : DsType.DsHttp,
            Fqdn = isRegistry ? $"{url.Scheme}://{url.Authority}" : $"{url.Scheme}://{url.Authority}",
            Dpath = url.AbsolutePath.Trim('/'),
            ApiKey = datastore.Username ?? "",
            Password = datastore.Password ?? "",
        };
        if (datastore.CertificatePem is { Length: > 0 } pem)
        {
            entry.DsCertPEM.Add(ByteString.CopyFromUtf8(pem));
        }

        config.Datastores.Add(entry);
    }

    /// <summary>A content tree template for an image in a registry: the repository with its tag and digest, as EVE's URL.</summary>
    internal static ContentTree RegistryContent(ImageReference reference, Format format) => new()
    {
        URL = reference.Repository + (reference.Tag is { } tag ? ":" + tag : "") + (reference.Digest is { } digest ? "@" + digest : ""),
        Iformat = format,
        Sha256 = reference.Digest?.Hex ?? "",
        DisplayName = reference.ToString(),
    };

    /// <summary>An OCI registry (docker:// or oci://), as opposed to a web server (http:// or https://).</summary>
    private static bool IsRegistry(Uri url) => url.Scheme is "docker" or "oci";

    private static string RegistryOf(string url) => Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.Authority : url;

    private static AppInstanceConfig Find(EdgeDevConfig config, string app) =>
        config.Apps.FirstOrDefault(a => string.Equals(a.Uuidandversion?.Uuid, app, StringComparison.OrdinalIgnoreCase) || a.Displayname == app)
        ?? throw new AppNotFoundException(app);

    private async Task<Dictionary<string, ZInfoApp>> AppInfosAsync(Guid deviceId, CancellationToken ct)
    {
        var result = new Dictionary<string, ZInfoApp>(StringComparer.OrdinalIgnoreCase);
        foreach (var info in await store.LatestInfoAsync(deviceId, ct))
        {
            if (info.ObjectKey.StartsWith("app/", StringComparison.Ordinal))
            {
                var message = ZInfoMsg.Parser.ParseFrom(info.Message);
                if (message.Ainfo is { } app)
                {
                    result[app.AppID] = app;
                }
            }
        }

        return result;
    }

    /// <summary>The restart policy a deploy asks for: always (also when not given), on-failure or never.</summary>
    public static OutpostRestartPolicy ParseRestartPolicy(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "always" => OutpostRestartPolicy.Always,
        "on-failure" => OutpostRestartPolicy.OnFailure,
        "never" => OutpostRestartPolicy.Never,
        _ => throw new AppRequestException($"Unknown restart policy '{text}'; use always, on-failure or never."),
    };

    /// <summary>Whether a container is to run in a VM of its own: "vm", or "none" (also when not given); a VM app is one already.</summary>
    public static bool ParseIsolation(string? text, bool isVm) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "none" => false,
        "vm" when isVm => throw new AppRequestException("--isolation vm applies to a container image; a VM app (--vm) is isolated already."),
        "vm" => true,
        _ => throw new AppRequestException($"Unknown isolation '{text}'; use none (a container on the device) or vm (the container in a VM of its own)."),
    };

    private static string RestartPolicyName(OutpostRestartPolicy policy) => policy switch
    {
        OutpostRestartPolicy.OnFailure => "on-failure",
        OutpostRestartPolicy.Never => "never",
        _ => "always",
    };

    private static AppView View(EdgeDevConfig config, AppInstanceConfig app, ZInfoApp? info)
    {
        var volume = config.Volumes.FirstOrDefault(v => v.Uuid == app.VolumeRefList.FirstOrDefault()?.Uuid);
        var content = config.ContentInfo.FirstOrDefault(c => c.Uuid == volume?.Origin?.DownloadContentTreeID);
        return new AppView(
            // Stored configs are validated, so the id is a UUID; an older, unchecked one must not make the list fail.
            Guid.TryParse(app.Uuidandversion?.Uuid, out var id) ? id : Guid.Empty,
            app.Displayname,
            content?.DisplayName ?? "",
            app.Activate,
            info is null ? "PENDING" : info.State.ToString().ToUpperInvariant(),
            info?.AppErr.Select(e => e.Description).ToList() ?? [],
            (long)(app.Fixedresources?.Memory ?? 0) * 1024,
            (int)(app.Fixedresources?.Vcpus ?? 0),
            app.Restart?.Counter ?? 0,
            app.Purge?.Counter ?? 0,
            null,
            RestartPolicyName(app.Outpost?.RestartPolicy ?? OutpostRestartPolicy.Unspecified),
            VmPlan.Describe(config, app, volume, content),
            content?.Iformat == Format.Container && app.Fixedresources?.VirtualizationMode is VmMode.Hvm or VmMode.Fml ? "vm" : "none");
    }

    /// <summary>Environment as KEY=VALUE lines (EVE's legacy cloud-init format), base64 as EVE expects.</summary>
    internal static string EncodeUserData(IReadOnlyDictionary<string, string>? environment, IReadOnlyList<string>? command)
    {
        var lines = new StringBuilder();
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            if (key.Length == 0 || key.Contains('=') || key.Contains('\n') || value.Contains('\n'))
            {
                throw new AppRequestException($"Environment variable '{key}' must be a name without '=' and a one-line value.");
            }

            lines.Append(key).Append('=').Append(value).Append('\n');
        }

        if (command is { Count: > 0 })
        {
            lines.Append(CommandOverrideVariable).Append('=').Append(string.Join(' ', command.Select(QuoteArgument))).Append('\n');
        }

        return lines.Length == 0 ? "" : Convert.ToBase64String(Encoding.UTF8.GetBytes(lines.ToString()));
    }

    private static string QuoteArgument(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_./:=,@%+".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''") + "'";

    internal static Guid DeterministicGuid(string text)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }
}

/// <summary>A deploy or lifecycle request the controller cannot carry out as given.</summary>
public sealed class AppRequestException(string message) : Exception(message);

public sealed class AppNotFoundException(string app) : Exception($"No app '{app}' on this device. List apps with `outpost app list --device D`.");
