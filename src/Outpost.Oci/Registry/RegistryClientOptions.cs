namespace Outpost.Oci.Registry;

/// <summary>Settings for <see cref="RegistryClient"/>.</summary>
public sealed record RegistryClientOptions
{
    /// <summary>Credentials by registry name as it appears in references (e.g. <c>docker.io</c>, <c>127.0.0.1:5000</c>).</summary>
    public IReadOnlyDictionary<string, RegistryCredentials> Credentials { get; init; } = new Dictionary<string, RegistryCredentials>();

    /// <summary>Registries reached over plain HTTP. localhost, 127.0.0.1 and ::1 always are.</summary>
    public IReadOnlySet<string> InsecureRegistries { get; init; } = new HashSet<string>();

    /// <summary>How many times a failed request or an interrupted download is retried.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>The first retry delay; each further retry doubles it (with jitter).</summary>
    public TimeSpan InitialRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The largest single blob this client downloads; larger ones fail with a QuotaExceededException.</summary>
    public long MaxBlobBytes { get; init; } = 64L * 1024 * 1024 * 1024;

    /// <summary>The largest manifest or index accepted (the distribution spec suggests 4 MiB).</summary>
    public int MaxManifestBytes { get; init; } = 4 * 1024 * 1024;
}
