using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Config;
using Outpost.Api.Configuration;
using Outpost.Controller.Pki;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Configs;

/// <summary>
/// Owns the desired configuration of devices: the default a device gets at registration, every change
/// (which bumps id.version and config_timestamp so EVE never drops it as obsolete), and the hash that lets
/// the config endpoint answer 304. No change is stored unless the whole config passes <see cref="ConfigValidator"/>
/// (object ids are UUIDs, references resolve, <see cref="ConfigBounds"/> hold): a device must never be sent a config
/// it would have to refuse.
/// </summary>
public sealed class DeviceConfigService(IControllerStore store, ControllerPki pki, ControllerOptions options, TimeProvider time)
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    /// <summary>The controllercert_confighash every config carries: it changes when the /certs set changes.</summary>
    public string CertificatesHash { get; } = Base64Url(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(pki.SigningPem + pki.EcdhPem)));

    public DeviceConfigRecord CreateDefault(Guid deviceId)
    {
        var config = new EdgeDevConfig
        {
            Id = new UUIDandVersion { Uuid = deviceId.ToString(), Version = "1" },
            ControllercertConfighash = CertificatesHash,
            ConfigTimestamp = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
            // The device takes the first counters it sees as a baseline (EVE's rule), so they are there from the start:
            // the first `outpost device reboot` then acts.
            Reboot = new DeviceOpsCmd { Counter = 0 },
            Shutdown = new DeviceOpsCmd { Counter = 0 },
        };
        foreach (var (key, value) in options.DefaultConfigItems.OrderBy(item => item.Key, StringComparer.Ordinal))
        {
            config.ConfigItems.Add(new ConfigItem { Key = key, Value = value });
        }

        return Record(deviceId, config);
    }

    public async Task<EdgeDevConfig?> GetAsync(Guid deviceId, CancellationToken ct)
    {
        var record = await store.GetConfigAsync(deviceId, ct);
        return record is null ? null : EdgeDevConfig.Parser.ParseFrom(record.Config);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the device's config and stores it with a new version. The device
    /// UUID and the certificate hash are forced back afterwards: they are not the operator's to change.
    /// </summary>
    /// <exception cref="ConfigValidationException">The changed config breaks a rule; nothing was stored.</exception>
    public async Task<EdgeDevConfig> UpdateAsync(Guid deviceId, Action<EdgeDevConfig> change, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            var current = await GetAsync(deviceId, ct) ?? throw new DeviceNotFoundException(deviceId.ToString());
            var next = current.Clone();
            change(next);
            var version = long.TryParse(current.Id?.Version, out var v) ? v + 1 : 1;
            next.Id = new UUIDandVersion { Uuid = deviceId.ToString(), Version = version.ToString() };
            next.ControllercertConfighash = CertificatesHash;
            next.ConfigTimestamp = Timestamp.FromDateTimeOffset(time.GetUtcNow());
            var validation = ConfigValidator.Validate(next, deviceId.ToString());
            if (!validation.IsValid)
            {
                throw new ConfigValidationException(validation);
            }

            await store.SetConfigAsync(Record(deviceId, next), ct);
            return next;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private DeviceConfigRecord Record(Guid deviceId, EdgeDevConfig config)
    {
        var bytes = config.ToByteArray();
        return new DeviceConfigRecord(deviceId, bytes, Base64Url(SHA256.HashData(bytes)), time.GetUtcNow());
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>A config change the controller refuses to store; the message lists every problem.</summary>
public sealed class ConfigValidationException(ConfigValidation validation)
    : Exception("The config is refused: " + string.Join(" ", validation.Describe()))
{
    public ConfigValidation Validation { get; } = validation;
}

/// <summary>No device with this id or serial.</summary>
public sealed class DeviceNotFoundException(string idOrSerial) : Exception($"No device '{idOrSerial}' is registered. List devices with `outpost device list`.");
