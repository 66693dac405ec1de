using System.Net;

namespace Outpost.Controller;

/// <summary>How a controller process runs. Immutable; built by the CLI or by tests.</summary>
public sealed record ControllerOptions(string DataDirectory, IPEndPoint Listen)
{
    /// <summary>Largest device request body accepted; bigger bodies get 413.</summary>
    public long MaxBodyBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>
    /// Whether a device without a TPM (empty quote) may obtain an integrity token. Default true, as EVE's
    /// reference controller does; such devices are flagged in device info.
    /// </summary>
    public bool AllowDevicesWithoutTpm { get; init; } = true;

    /// <summary>Store connection: null for the embedded SQLite file in the data directory.</summary>
    public string? StoreConnection { get; init; }

    /// <summary>Config items every newly registered device starts with (a fleet-wide policy, e.g. timers).</summary>
    public IReadOnlyDictionary<string, string> DefaultConfigItems { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// DNS names and IP addresses devices use to reach the controller, checked by <see cref="Pki.AdvertisedNames.Parse"/>:
    /// they go into the TLS certificate, and the first is a new device's default server. Null keeps the ones an earlier
    /// start saved.
    /// </summary>
    public IReadOnlyList<string>? Advertise { get; init; }

    public string PkiDirectory => Path.Combine(DataDirectory, "pki");

    public string AdminTokenPath => Path.Combine(DataDirectory, "admin.token");

    /// <summary>A file holding the controller's base URL, so local CLI commands find it without flags.</summary>
    public string UrlFilePath => Path.Combine(DataDirectory, "controller.url");
}
