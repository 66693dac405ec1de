using System.Text.Json.Serialization;

namespace Outpost.Agent.BaseOs;

/// <summary>What a slot holds, as the agent wrote it (the GPT knows states, not versions).</summary>
public sealed record SlotContent(string Version, string RootfsSha256);

/// <summary>A version that was booted and did not pass its test window; not tried again until the retry counter moves.</summary>
public sealed record FailedUpdate(string Version, string Reason, uint RetryCounter);

/// <summary>BaseOs's memory across boots, in STATE/baseos/state.json (written atomically).</summary>
public sealed record BaseOsRecord
{
    public Dictionary<string, SlotContent> Slots { get; init; } = new(StringComparer.Ordinal);

    /// <summary>The version being installed or on probation; set before the reboot into it.</summary>
    public string? Pending { get; init; }

    public FailedUpdate? Failed { get; init; }

    /// <summary>The previous version force.fallback.counter sent the device back to, while the other slot waits to boot it.</summary>
    public string? ForcedFallback { get; init; }

    /// <summary>The pending update came from `outpost-device os update --apply` (no controller): its test window starts at boot.</summary>
    public bool Local { get; init; }

    public string? LastOutcome { get; init; }

    /// <summary>The last local request (`os update --apply|--rollback`) the reconciler finished, and whether it succeeded.</summary>
    public string? LocalRequestDone { get; init; }

    public bool LocalRequestSucceeded { get; init; }

    /// <summary>EVE's rule for counters: the first value seen is only recorded, a change acts.</summary>
    public uint? ForceFallbackSeen { get; init; }

    public uint? CommitCounterSeen { get; init; }
}

[JsonSerializable(typeof(BaseOsRecord))]
[JsonSerializable(typeof(LocalUpdateRequest))]
[JsonSourceGenerationOptions(WriteIndented = true)]
internal sealed partial class BaseOsJson : JsonSerializerContext;
