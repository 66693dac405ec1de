namespace Outpost.Controller.OsImages;

/// <summary>An OS version in the controller's registry (repository <c>outpost/os</c>, tag = version).</summary>
/// <param name="Digest">The manifest digest a device's content tree pins.</param>
/// <param name="SizeBytes">The config and layers together: what a device downloads.</param>
/// <param name="Signed">Whether it carries a signature layer (devices refuse images without one).</param>
/// <param name="Problem">Why devices cannot use it (not an Outpost OS image manifest), or null.</param>
public sealed record OsImageView(string Version, string Digest, long SizeBytes, bool Signed, string? Problem);

/// <summary>What `outpost device update` asks for.</summary>
/// <param name="Version">An OS version pushed to the controller's registry (`outpost os list`).</param>
/// <param name="ManualCommit">Hold the commit after the test window until `outpost device commit`.</param>
/// <param name="DownloadOnly">Download and verify only (EVE's activate=false).</param>
/// <param name="Datastore">A datastore by name to fetch it through; default: the controller's own registry as devices reach it.</param>
public sealed record SetDeviceOsRequest(string Version, bool ManualCommit = false, bool DownloadOnly = false, string? Datastore = null);

/// <summary>A device's OS: what the controller wants (its config) and what the device last reported (ZInfoDevice.swList).</summary>
/// <param name="Desired">EdgeDevConfig.baseos, or null when the controller asks for no particular OS.</param>
/// <param name="CommitCounter">ConfigItem outpost.baseos.commit.counter (0 when absent).</param>
/// <param name="FallbackCounter">ConfigItem force.fallback.counter (0 when absent).</param>
/// <param name="ReportedUpdateCounter">ZInfoDevice.baseos_update_counter: the retry counter the device has processed.</param>
/// <param name="Slots">One per swList entry, as the device sent them (current partition first).</param>
public sealed record DeviceOsView(
    DesiredOsView? Desired,
    uint CommitCounter,
    uint FallbackCounter,
    uint? ReportedUpdateCounter,
    IReadOnlyList<OsSlotView> Slots);

/// <param name="Activate">False for download-only.</param>
/// <param name="ContentTree">The ContentTree uuid baseos.content_tree_uuid names.</param>
/// <param name="Sha256">The manifest digest (hex) the content tree pins.</param>
public sealed record DesiredOsView(string Version, bool Activate, bool ManualCommit, uint RetryCounter, string ContentTree, string Url, string Sha256);

/// <summary>One ZInfoDevSW entry; enum values by their EVE names (INSTALLED, UPDATING, UPDATE_TESTING...).</summary>
/// <param name="SubStatusProgress">Percent while downloading, seconds left while testing.</param>
/// <param name="Error">swErr.description, or null.</param>
public sealed record OsSlotView(
    string Label,
    string PartitionState,
    bool Activated,
    string ShortVersion,
    string LongVersion,
    string Status,
    string UserStatus,
    string SubStatus,
    string SubStatusText,
    uint SubStatusProgress,
    uint DownloadProgress,
    string? Error);

/// <summary>A counter the controller bumped in the device's config (retry, rollback, commit).</summary>
/// <param name="Note">Set when the device will not act on it as it stands (e.g. no update held for a commit).</param>
public sealed record OsCounterView(string Operation, string Name, uint Counter, string? Note);
