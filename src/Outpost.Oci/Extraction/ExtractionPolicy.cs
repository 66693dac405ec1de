namespace Outpost.Oci.Extraction;

/// <summary>What to do with an entry the policy does not allow.</summary>
public enum DisallowedEntryHandling
{
    /// <summary>Stop extraction with a LayerSecurityException.</summary>
    Reject,

    /// <summary>Leave the entry out and count it in <see cref="ExtractionResult.SkippedEntries"/>.</summary>
    Skip,
}

/// <summary>Limits for <see cref="LayerExtractor"/>. The defaults suit untrusted images.</summary>
public sealed record ExtractionPolicy
{
    /// <summary>The defaults: no device nodes or FIFOs (rejected), setuid/setgid stripped, no byte limit.</summary>
    public static ExtractionPolicy Untrusted { get; } = new();

    /// <summary>Largest total of regular-file bytes one extraction may write.</summary>
    public long MaxBytes { get; init; } = long.MaxValue;

    /// <summary>Create character/block devices and FIFOs (only takes effect when running as root).</summary>
    public bool AllowDeviceNodes { get; init; }

    /// <summary>Keep setuid and setgid bits; by default they are stripped.</summary>
    public bool AllowSetuid { get; init; }

    /// <summary>What happens to device nodes and FIFOs that are not allowed.</summary>
    public DisallowedEntryHandling DisallowedEntries { get; init; } = DisallowedEntryHandling.Reject;

    /// <summary>Apply the entries' uid/gid (only possible, and only done, when running as root).</summary>
    public bool ApplyOwnership { get; init; } = true;

    /// <summary>How many symbolic links one path resolution may follow (Linux uses 40).</summary>
    public int MaxSymlinkDepth { get; init; } = 40;
}
