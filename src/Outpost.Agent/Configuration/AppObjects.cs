using Org.Lfedge.Eve.Config;

namespace Outpost.Agent.Configuration;

/// <summary>A place images come from (EVE DatastoreConfig). The password never appears in <see cref="ToString"/>.</summary>
public sealed record DatastoreSpec(string Id, DsType Type, string Fqdn, string Path, string Username, string Password, IReadOnlyList<string> CertificatesPem)
{
    public override string ToString() => $"Datastore {{ Id = {Id}, Type = {Type}, Fqdn = {Fqdn}, Username = {Username}, Password = *** }}";

    internal static DatastoreSpec From(DatastoreConfig ds) => new(
        ds.Id, ds.DType, ds.Fqdn, ds.Dpath, ds.ApiKey, ds.Password, ds.DsCertPEM.Select(c => c.ToStringUtf8()).ToList());
}

/// <summary>An image to fetch (EVE ContentTree). <paramref name="Sha256"/> is lower-case hex or empty (resolve the tag).</summary>
public sealed record ContentTreeSpec(
    string Uuid, string DisplayName, string Url, Format Format, string Sha256, ulong MaxSizeBytes, IReadOnlyList<string> DatastoreIds, long GenerationCount)
{
    internal static ContentTreeSpec From(ContentTree ct)
    {
        // ds_ids_list wins; the deprecated dsId is the fallback older controllers send.
        IReadOnlyList<string> datastores = ct.DsIdsList.Count > 0 ? ct.DsIdsList.ToList() : ct.DsId is { Length: > 0 } id ? [id] : [];
        return new(ct.Uuid, ct.DisplayName, ct.URL, ct.Iformat, ct.Sha256.ToLowerInvariant(), ct.MaxSizeBytes, datastores, ct.GenerationCount);
    }
}

/// <summary>A disk for apps (EVE Volume): created blank or from a content tree.</summary>
public sealed record VolumeSpec(
    string Uuid, string DisplayName, VolumeContentOriginType Origin, string? ContentTreeId, long GenerationCount, long MaxSizeBytes)
{
    internal static VolumeSpec From(Volume v) => new(
        v.Uuid, v.DisplayName, v.Origin?.Type ?? VolumeContentOriginType.VcotUnknown,
        v.Origin?.DownloadContentTreeID is { Length: > 0 } ct ? ct : null, v.GenerationCount, v.Maxsizebytes);
}

/// <summary>One volume an app uses; the first is its root filesystem.</summary>
public sealed record AppVolumeRef(string Uuid, long GenerationCount);

/// <summary>An app instance (EVE AppInstanceConfig) as far as a container runtime needs it.</summary>
public sealed record AppSpec(
    string Uuid,
    string Version,
    string DisplayName,
    ulong MemoryKiB,
    uint Vcpus,
    bool Activate,
    IReadOnlyList<AppVolumeRef> Volumes,
    AppUserData UserData,
    uint RestartCounter,
    uint PurgeCounter,
    bool DisableLogs)
{
    internal static AppSpec From(AppInstanceConfig app) => new(
        app.Uuidandversion?.Uuid ?? "",
        app.Uuidandversion?.Version ?? "",
        app.Displayname,
        app.Fixedresources?.Memory ?? 0,
        app.Fixedresources?.Vcpus ?? 0,
        app.Activate,
        app.VolumeRefList.Select(v => new AppVolumeRef(v.Uuid, v.GenerationCount)).ToList(),
        AppUserData.Decode(app.UserData),
        app.Restart?.Counter ?? 0,
        app.Purge?.Counter ?? 0,
        app.Fixedresources?.DisableLogs ?? false);
}
