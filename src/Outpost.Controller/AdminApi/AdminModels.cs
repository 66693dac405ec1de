using System.Text.Json;
using Outpost.Controller.OsImages;

namespace Outpost.Controller.AdminApi;

public sealed record CreateOnboardingRequest(string Name, string CertificatePem, IReadOnlyList<string> Serials);

public sealed record OnboardingView(Guid Id, string Name, string CertificateHash, IReadOnlyList<string> Serials, DateTimeOffset CreatedAt, bool Revoked);

public sealed record DeviceView(
    Guid Id,
    string Serial,
    string SoftSerial,
    DateTimeOffset RegisteredAt,
    DateTimeOffset? LastSeenAt,
    bool Online,
    bool Attested,
    bool AttestedWithoutTpm,
    string? ConfigVersion,
    string? Hostname);

/// <summary>A device with its latest info per object, each as the protobuf JSON of the ZInfoMsg, and its OS: desired and per slot.</summary>
public sealed record DeviceDetail(DeviceView Device, JsonElement? DeviceInfo, IReadOnlyList<InfoView> Objects, DeviceOsView? Os = null);

public sealed record InfoView(string Kind, string Object, DateTimeOffset DeviceTimestamp, JsonElement Message);

public sealed record ConfigItemValue(string Value);

public sealed record MetricView(DateTimeOffset DeviceTimestamp, JsonElement Message);

public sealed record LogView(long Sequence, string? AppId, DateTimeOffset DeviceTimestamp, string Severity, string Source, string Content, ulong MessageId);

/// <summary>What a device's config folder needs to find and trust this controller.</summary>
/// <param name="Server">HOST:PORT the controller listens on.</param>
/// <param name="AdvertisedServers">HOST:PORT for each advertised name, the default first; empty when none are advertised.</param>
public sealed record ControllerIdentity(string Server, string RootCertificatePem, IReadOnlyList<string> AdvertisedServers);

public sealed record AdminError(string Error);

/// <summary>A device operation the controller put into the device's config (EVE DeviceOpsCmd).</summary>
/// <param name="Note">Set when the device will only take this counter as its baseline and not act on it.</param>
public sealed record DeviceOperationView(string Operation, uint Counter, string? Note);
