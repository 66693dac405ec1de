namespace Outpost.Api.Configuration;

/// <summary>
/// What one device config may hold. The controller refuses a config beyond these bounds (400 with the reason) and
/// the agent refuses it again (a config that breaks a count bound is refused whole and the last good one keeps
/// running; an object that breaks a per-object bound is refused alone). They are set from what a small edge device
/// can hold, not from what the protocol allows: EVE sets no such limits.
/// </summary>
public static class ConfigBounds
{
    /// <summary>Largest config document the controller stores (its protobuf JSON on the admin API).</summary>
    public const int MaxConfigDocumentBytes = 16 * 1024 * 1024;

    /// <summary>Largest signed config response the agent reads; anything bigger is refused before it is parsed.</summary>
    public const int MaxConfigResponseBytes = 32 * 1024 * 1024;

    public const int MaxApps = 256;
    public const int MaxVolumes = 512;
    public const int MaxContentTrees = 512;
    public const int MaxDatastores = 128;
    public const int MaxConfigItems = 1024;

    /// <summary>An app's userData, as sent (base64 text): cloud-init user-data or container environment.</summary>
    public const int MaxUserDataBytes = 256 * 1024;

    public const int MaxVolumesPerApp = 32;
    public const int MaxNameLength = 256;
    public const int MaxUrlLength = 4096;
    public const int MaxDatastoreCertificatesBytes = 256 * 1024;
    public const uint MaxVcpus = 1024;
}
