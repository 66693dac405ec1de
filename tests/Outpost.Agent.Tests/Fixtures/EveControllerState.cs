using System.Collections.Concurrent;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Logs;
using Org.Lfedge.Eve.Metrics;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>A device the fixture controller knows.</summary>
public sealed class RegisteredDevice(string uuid, string serial, byte[] certificateDerHash, string certificatePem)
{
    public string Uuid { get; } = uuid;

    public string Serial { get; } = serial;

    public byte[] CertificateDerHash { get; } = certificateDerHash;

    public string CertificatePem { get; } = certificatePem;

    public byte[]? Nonce { get; set; }

    public byte[]? IntegrityToken { get; set; }
}

/// <summary>How the fixture answers /config, to test that the agent refuses what it must refuse.</summary>
public enum ConfigResponseMode
{
    Honest,
    /// <summary>Flips a byte of the signed payload after signing.</summary>
    TamperedPayload,
    /// <summary>Signs with a key that is not the controller's signing key (but names the signing cert).</summary>
    WrongKey,
    /// <summary>Answers 404, as Adam does until an operator has set a config for the device.</summary>
    NotFound,
}

/// <summary>
/// The fixture controller's data. It lives outside the Kestrel server so a test can stop and restart the server
/// (an outage) without the controller forgetting its devices.
/// </summary>
public sealed class EveControllerState
{
    public ConcurrentDictionary<string, bool> AllowedSerials { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, RegisteredDevice> DevicesBySerial { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<ZInfoMsg> Infos { get; } = new();

    public ConcurrentQueue<LogEntry> LogEntries { get; } = new();

    public ConcurrentQueue<ZMetricMsg> Metrics { get; } = new();

    /// <summary>App console lines received on apps/instanceid/{app}/newlogs, with the app name from the gzip header.</summary>
    public ConcurrentQueue<(string AppUuid, string AppName, LogEntry Entry)> AppLogEntries { get; } = new();

    /// <summary>Adds app objects (datastores, content trees, volumes, apps) to every config served.</summary>
    public Action<EdgeDevConfig>? ExtendConfig { get; set; }

    public ConcurrentQueue<string> Requests { get; } = new();

    public ConcurrentQueue<(string Path, IReadOnlyDictionary<string, string> Headers)> RequestHeaders { get; } = new();

    public int ConfigRequests;

    public ConfigResponseMode ConfigMode { get; set; } = ConfigResponseMode.Honest;

    /// <summary>Info messages for which this says true are answered 404 (and kept in <see cref="RefusedInfos"/>).</summary>
    public Func<ZInfoMsg, bool>? RefuseInfo { get; set; }

    public ConcurrentQueue<ZInfoMsg> RefusedInfos { get; } = new();

    /// <summary>What the controller accepted, in order: "info:KIND:ID:STATE", "newlogs" or "appnewlogs:APP".</summary>
    public ConcurrentQueue<string> Timeline { get; } = new();

    public int RequestCount(string pathSuffix) => Requests.Count(r => r.EndsWith(pathSuffix, StringComparison.Ordinal));

    public List<ConfigItem> ConfigItems { get; } = [new ConfigItem { Key = "timer.config.interval", Value = "5" }];

    public RegisteredDevice? FindByCertificateHash(ReadOnlySpan<byte> hash)
    {
        foreach (var device in DevicesBySerial.Values)
        {
            if (hash.SequenceEqual(device.CertificateDerHash))
            {
                return device;
            }
        }

        return null;
    }

    public EdgeDevConfig ConfigFor(RegisteredDevice device)
    {
        var config = new EdgeDevConfig { Id = new UUIDandVersion { Uuid = device.Uuid, Version = "1" } };
        lock (ConfigItems)
        {
            config.ConfigItems.AddRange(ConfigItems.Select(i => i.Clone()));
        }

        ExtendConfig?.Invoke(config);
        return config;
    }
}
