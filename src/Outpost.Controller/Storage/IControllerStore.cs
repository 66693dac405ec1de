namespace Outpost.Controller.Storage;

/// <summary>
/// Everything the controller remembers. One interface so the embedded SQLite store and a server database
/// can be swapped; every implementation must make uploads idempotent (a retried upload stores nothing new).
/// </summary>
public interface IControllerStore : IAsyncDisposable
{
    Task InitializeAsync(CancellationToken ct);

    Task AddOnboardingAsync(OnboardingRecord record, CancellationToken ct);

    Task<IReadOnlyList<OnboardingRecord>> ListOnboardingAsync(CancellationToken ct);

    Task<OnboardingRecord?> FindOnboardingByHashAsync(string certificateHash, CancellationToken ct);

    Task<bool> RevokeOnboardingAsync(Guid id, CancellationToken ct);

    Task AddDeviceAsync(DeviceRecord device, DeviceConfigRecord initialConfig, CancellationToken ct);

    Task<DeviceRecord?> GetDeviceAsync(Guid id, CancellationToken ct);

    Task<DeviceRecord?> FindDeviceByCertificateHashAsync(string certificateHash, CancellationToken ct);

    /// <summary>Finds a device by a prefix of its certificate hash (EVE's 16-byte variant).</summary>
    Task<DeviceRecord?> FindDeviceByCertificateHashPrefixAsync(string hashPrefix, CancellationToken ct);

    Task<DeviceRecord?> FindDeviceByOnboardingAsync(string onboardingHash, string serial, CancellationToken ct);

    Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(CancellationToken ct);

    Task<bool> DeleteDeviceAsync(Guid id, CancellationToken ct);

    Task SetIntegrityTokenAsync(Guid id, string token, bool withoutTpm, CancellationToken ct);

    Task TouchDeviceAsync(Guid id, DateTimeOffset seenAt, CancellationToken ct);

    Task<DeviceConfigRecord?> GetConfigAsync(Guid deviceId, CancellationToken ct);

    Task SetConfigAsync(DeviceConfigRecord config, CancellationToken ct);

    /// <summary>Stores an info message; false when the same message was stored before.</summary>
    Task<bool> AddInfoAsync(Guid deviceId, int kind, string objectKey, DateTimeOffset deviceTimestamp, byte[] message, CancellationToken ct);

    /// <summary>The newest info message per (kind, object) for a device.</summary>
    Task<IReadOnlyList<InfoRecord>> LatestInfoAsync(Guid deviceId, CancellationToken ct);

    Task<int> CountInfoAsync(Guid deviceId, CancellationToken ct);

    Task<bool> AddMetricAsync(Guid deviceId, DateTimeOffset deviceTimestamp, byte[] message, CancellationToken ct);

    Task<IReadOnlyList<MetricRecord>> QueryMetricsAsync(Guid deviceId, DateTimeOffset? since, int limit, CancellationToken ct);

    /// <summary>
    /// Stores a batch of log lines identified by <paramref name="bundleDigest"/>; a bundle seen before is
    /// skipped as a whole. Returns the number of lines stored.
    /// </summary>
    Task<int> AddLogsAsync(Guid deviceId, string? appId, string bundleDigest, IReadOnlyList<NewLogLine> lines, CancellationToken ct);

    /// <summary>Adds or replaces a datastore (by name).</summary>
    Task SaveDatastoreAsync(DatastoreRecord datastore, CancellationToken ct);

    Task<IReadOnlyList<DatastoreRecord>> ListDatastoresAsync(CancellationToken ct);

    Task<IReadOnlyList<LogRecord>> QueryLogsAsync(Guid deviceId, string? appId, long afterSequence, int limit, CancellationToken ct);
}
