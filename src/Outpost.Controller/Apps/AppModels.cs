namespace Outpost.Controller.Apps;

/// <summary>What an operator asks for when deploying a container app.</summary>
/// <param name="Restart">The restart policy: always (the default), on-failure or never.</param>
public sealed record DeployAppRequest(
    string Name,
    string Image,
    long? MemoryBytes,
    int? Cpus,
    IReadOnlyDictionary<string, string>? Environment,
    IReadOnlyList<string>? Command,
    string? Datastore,
    string? Restart = null);

public sealed record AppView(
    Guid Id,
    string Name,
    string Image,
    bool Activate,
    string State,
    IReadOnlyList<string> Errors,
    long MemoryBytes,
    int Cpus,
    uint RestartCounter,
    uint PurgeCounter,
    DateTimeOffset? InfoTimestamp,
    string Restart = "always");

public sealed record CreateDatastoreRequest(string Name, string Url, string? Username, string? Password, string? CertificatePem);

public sealed record DatastoreView(Guid Id, string Name, string Url, string? Username, bool HasPassword);

/// <summary>Start, stop, restart, purge: the lifecycle actions on a deployed app.</summary>
public enum AppAction
{
    Start,
    Stop,
    Restart,
    Purge,
}
