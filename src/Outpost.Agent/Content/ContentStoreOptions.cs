using Outpost.Oci.Content;

namespace Outpost.Agent.Content;

/// <summary>Limits and retry pacing of the content store.</summary>
public sealed record ContentStoreOptions
{
    /// <summary>Largest image (config plus compressed layers) when the content tree sets no maxSizeBytes.</summary>
    public long MaxContentBytes { get; init; } = 16L * 1024 * 1024 * 1024;

    /// <summary>The platform images are pulled for; this host's by default.</summary>
    public Platform Platform { get; init; } = HostPlatform.Current;

    /// <summary>A failed download is tried again after this, doubling up to <see cref="RetryMax"/>.</summary>
    public TimeSpan RetryFirst { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan RetryMax { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries inside one download attempt (a cut transfer resumes from the .partial file).</summary>
    public int RegistryRetries { get; init; } = 4;

    /// <summary>A download from an HTTP datastore that receives nothing for this long fails (and is retried).</summary>
    public TimeSpan StalledDownloadTimeout { get; init; } = TimeSpan.FromMinutes(2);
}

/// <summary>The OCI platform of the machine the agent runs on.</summary>
public static class HostPlatform
{
    public static Platform Current { get; } = new()
    {
        Os = "linux",
        Architecture = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
            System.Runtime.InteropServices.Architecture.Arm => "arm",
            System.Runtime.InteropServices.Architecture.RiscV64 => "riscv64",
            System.Runtime.InteropServices.Architecture.S390x => "s390x",
            System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
            _ => "amd64",
        },
    };
}
