namespace Outpost.Controller.Storage;

/// <summary>An onboarding certificate and the serial numbers it may register.</summary>
public sealed record OnboardingRecord(
    Guid Id,
    string Name,
    string CertificatePem,
    string CertificateHash,
    IReadOnlyList<string> AllowedSerials,
    DateTimeOffset CreatedAt,
    bool Revoked);

/// <summary>A registered device. CertificateHash is hex SHA-256 of the device certificate DER.</summary>
public sealed record DeviceRecord(
    Guid Id,
    string Serial,
    string SoftSerial,
    string OnboardingHash,
    string CertificateHash,
    string CertificatePem,
    DateTimeOffset RegisteredAt,
    string? IntegrityToken,
    bool AttestedWithoutTpm,
    DateTimeOffset? LastSeenAt);

/// <summary>The desired configuration of a device: a serialized EdgeDevConfig and the hash devices echo.</summary>
public sealed record DeviceConfigRecord(Guid DeviceId, byte[] Config, string ConfigHash, DateTimeOffset UpdatedAt);

/// <summary>
/// One info message as the device sent it. (Kind, ObjectKey, DeviceTimestamp) identifies it, so a retried
/// upload is stored once.
/// </summary>
public sealed record InfoRecord(long Sequence, Guid DeviceId, int Kind, string ObjectKey, DateTimeOffset DeviceTimestamp, byte[] Message, DateTimeOffset ReceivedAt);

/// <summary>One metrics message; DeviceTimestamp identifies it per device.</summary>
public sealed record MetricRecord(long Sequence, Guid DeviceId, DateTimeOffset DeviceTimestamp, byte[] Message);

/// <summary>One log line from a device (AppId null) or one of its apps.</summary>
public sealed record LogRecord(
    long Sequence,
    Guid DeviceId,
    string? AppId,
    DateTimeOffset DeviceTimestamp,
    string Severity,
    string Source,
    string Content,
    ulong MessageId);

/// <summary>A log line before the store has given it a sequence number.</summary>
public sealed record NewLogLine(DateTimeOffset DeviceTimestamp, string Severity, string Source, string Content, ulong MessageId);

/// <summary>
/// Where app content comes from: an OCI registry (Url docker://host[:port]) or an HTTP(S) server. Credentials
/// are sent to devices inside their signed config, never logged.
/// </summary>
public sealed record DatastoreRecord(Guid Id, string Name, string Url, string? Username, string? Password, string? CertificatePem);
