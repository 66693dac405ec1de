using Org.Lfedge.Eve.Config;
using Outpost.Agent.Bus;
using Outpost.Api.Configuration;

namespace Outpost.Agent.Configuration;

/// <summary>A place images come from (EVE DatastoreConfig). The password never appears in <see cref="ToString"/>.</summary>
public sealed record DatastoreSpec(string Id, DsType Type, string Fqdn, string Path, string Username, string Password, ValueList<string> CertificatesPem)
    : IKeyed
{
    public string Key => Id;

    public override string ToString() => $"Datastore {{ Id = {Id}, Type = {Type}, Fqdn = {Fqdn}, Username = {Username}, Password = *** }}";

    internal static DatastoreSpec From(DatastoreConfig ds) => new(
        Canonical(ds.Id), ds.DType, ds.Fqdn, ds.Dpath, ds.ApiKey, ds.Password, ds.DsCertPEM.Select(c => c.ToStringUtf8()).ToValueList());

    /// <summary>Ids reaching a spec were validated as UUIDs; specs carry them in canonical (lower-case) form.</summary>
    internal static string Canonical(string id) =>
        ConfigValidator.CanonicalId(id) ?? throw new ArgumentException($"'{id}' is not a UUID; validate the config first.", nameof(id));
}

/// <summary>An image to fetch (EVE ContentTree). <paramref name="Sha256"/> is lower-case hex or empty (resolve the tag).</summary>
public sealed record ContentTreeSpec(
    string Uuid, string DisplayName, string Url, Format Format, string Sha256, ulong MaxSizeBytes, ValueList<string> DatastoreIds, long GenerationCount)
    : IKeyed
{
    public string Key => Uuid;

    internal static ContentTreeSpec From(ContentTree ct)
    {
        // ds_ids_list wins; the deprecated dsId is the fallback older controllers send.
        IEnumerable<string> datastores = ct.DsIdsList.Count > 0 ? ct.DsIdsList : ct.DsId is { Length: > 0 } id ? [id] : [];
        return new(DatastoreSpec.Canonical(ct.Uuid), ct.DisplayName, ct.URL, ct.Iformat, ct.Sha256.ToLowerInvariant(), ct.MaxSizeBytes,
            datastores.Select(DatastoreSpec.Canonical).ToValueList(), ct.GenerationCount);
    }
}

/// <summary>A disk for apps (EVE Volume): created blank or from a content tree.</summary>
public sealed record VolumeSpec(
    string Uuid, string DisplayName, VolumeContentOriginType Origin, string? ContentTreeId, long GenerationCount, long MaxSizeBytes) : IKeyed
{
    public string Key => Uuid;

    /// <summary>What a VM does with it (EVE's target): a disk (the default), or the kernel or initrd it boots directly.</summary>
    public Target Target { get; init; }

    internal static VolumeSpec From(Volume v) => new(
        DatastoreSpec.Canonical(v.Uuid), v.DisplayName, v.Origin?.Type ?? VolumeContentOriginType.VcotUnknown,
        v.Origin?.DownloadContentTreeID is { Length: > 0 } ct ? DatastoreSpec.Canonical(ct) : null, v.GenerationCount, v.Maxsizebytes)
    {
        Target = v.Target,
    };
}

/// <summary>One volume an app uses; the first is its root filesystem.</summary>
public sealed record AppVolumeRef(string Uuid, long GenerationCount);

/// <summary>What the agent does when an app's workload ends by itself (an Outpost option; EVE has no such field).</summary>
public enum RestartPolicy
{
    /// <summary>Start it again, with a growing delay while it keeps failing. The default.</summary>
    Always,
    /// <summary>Start it again only after a non-zero exit code or a kill.</summary>
    OnFailure,
    /// <summary>Leave it down.</summary>
    Never,
}

/// <summary>
/// What an app needs when it runs as a VM (EVE VmConfig and the cloud-init fields of AppInstanceConfig). Every app
/// carries it, as EVE sends VmConfig for containers too; it is used when the app's root volume is a disk image.
/// </summary>
/// <param name="CpuSet">Host CPUs to pin the VM to (EVE's cpus), or empty.</param>
/// <param name="CloudInit">False for EVE's MetaDataNone: no NoCloud seed disk.</param>
/// <param name="UserData">The app's userData as sent: base64 cloud-init user-data for a VM.</param>
public sealed record AppVmConfig(string CpuSet, bool Uefi, bool EnableVnc, bool CloudInit, string UserData, bool RemoteConsole)
{
    /// <summary>EVE's extraargs: the kernel command line of a VM booted directly (a kernel volume, or a container VM's kit).</summary>
    public string KernelArgs { get; init; } = "";

    /// <summary>EVE's kernel and ramdisk: files on the device. Outpost refuses them (a controller may not pick host paths).</summary>
    public string HostKernelPath { get; init; } = "";

    public static AppVmConfig Default { get; } = new("", false, false, true, "", false);

    /// <summary>Host hardware passed to the VM (EVE's adapters), by PhysicalIO assignment group.</summary>
    public ValueList<AppAdapter> Adapters { get; init; } = ValueList<AppAdapter>.Empty;

    /// <summary>
    /// An OCI app runs in its own small VM rather than on runc: EVE's virtualizationMode HVM or FML for a container.
    /// NOHYPER, and PV (the field's zero value, which a controller that never sets it sends), keep it a plain container.
    /// </summary>
    public bool IsolateContainer { get; init; }

    internal static AppVmConfig From(AppInstanceConfig app) => new(
        app.Fixedresources?.Cpus ?? "",
        app.Fixedresources?.BootMode == VmBootMode.Uefi,
        app.Fixedresources?.EnableVnc ?? false,
        app.MetaDataType != MetaDataType.MetaDataNone,
        app.UserData ?? "",
        app.RemoteConsole)
    {
        Adapters = app.Adapters.Select(a => new AppAdapter(a.Type, a.Name)).ToValueList(),
        IsolateContainer = app.Fixedresources?.VirtualizationMode is VmMode.Hvm or VmMode.Fml,
        KernelArgs = app.Fixedresources?.Extraargs ?? "",
        HostKernelPath = string.Join(" ", new[] { app.Fixedresources?.Kernel, app.Fixedresources?.Ramdisk }.Where(p => !string.IsNullOrEmpty(p))),
    };
}

/// <summary>An app instance (EVE AppInstanceConfig) as far as a container runtime needs it.</summary>
public sealed record AppSpec(
    string Uuid,
    string Version,
    string DisplayName,
    ulong MemoryKiB,
    uint Vcpus,
    bool Activate,
    ValueList<AppVolumeRef> Volumes,
    AppUserData UserData,
    uint RestartCounter,
    uint PurgeCounter,
    bool DisableLogs,
    RestartPolicy RestartPolicy = RestartPolicy.Always) : IKeyed
{
    public string Key => Uuid;

    public AppVmConfig Vm { get; init; } = AppVmConfig.Default;

    internal static AppSpec From(AppInstanceConfig app) => new(
        DatastoreSpec.Canonical(app.Uuidandversion?.Uuid ?? ""),
        app.Uuidandversion?.Version ?? "",
        app.Displayname,
        app.Fixedresources?.Memory ?? 0,
        app.Fixedresources?.Vcpus ?? 0,
        app.Activate,
        app.VolumeRefList.Select(v => new AppVolumeRef(DatastoreSpec.Canonical(v.Uuid), v.GenerationCount)).ToValueList(),
        AppUserData.Decode(app.UserData),
        app.Restart?.Counter ?? 0,
        app.Purge?.Counter ?? 0,
        app.Fixedresources?.DisableLogs ?? false,
        PolicyFrom(app.Outpost?.RestartPolicy ?? OutpostRestartPolicy.Unspecified))
    {
        Vm = AppVmConfig.From(app),
    };

    public static RestartPolicy PolicyFrom(OutpostRestartPolicy policy) => policy switch
    {
        OutpostRestartPolicy.OnFailure => RestartPolicy.OnFailure,
        OutpostRestartPolicy.Never => RestartPolicy.Never,
        _ => RestartPolicy.Always,
    };
}

/// <summary>
/// An object of the config the agent refused (its id is not a UUID, it breaks a bound, a reference does not
/// resolve). It never reaches a subsystem; the status reporter tells the controller why, as an ERROR for that object.
/// </summary>
public sealed record RefusedObject(ConfigObjectKind Kind, string Id, string DisplayName, string Reason) : IKeyed
{
    public string Key => $"{Kind}/{Id}";
}
