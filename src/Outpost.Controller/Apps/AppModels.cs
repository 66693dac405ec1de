namespace Outpost.Controller.Apps;

/// <summary>What an operator asks for when deploying an app: a container, or a VM when <paramref name="Vm"/> is given.</summary>
/// <param name="Restart">The restart policy: always (the default), on-failure or never.</param>
/// <param name="Vm">Makes the app a VM booting from the disk artifact <paramref name="Image"/> names; memory and vCPUs are then its own.</param>
public sealed record DeployAppRequest(
    string Name,
    string Image,
    long? MemoryBytes,
    int? Cpus,
    IReadOnlyDictionary<string, string>? Environment,
    IReadOnlyList<string>? Command,
    string? Datastore,
    string? Restart = null,
    VmSettings? Vm = null,
    string? Isolation = null);

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
    string Restart = "always",
    VmSettings? Vm = null,
    string Isolation = "none");

/// <param name="Type">http (a web server: http:// or https://) or oci (a registry: docker:// or oci://); the URL's scheme decides when not given, and must agree when given.</param>
public sealed record CreateDatastoreRequest(string Name, string Url, string? Username, string? Password, string? CertificatePem, string? Type = null);

public sealed record DatastoreView(Guid Id, string Name, string Url, string? Username, bool HasPassword);

/// <summary>Start, stop, restart, purge: the lifecycle actions on a deployed app.</summary>
public enum AppAction
{
    Start,
    Stop,
    Restart,
    Purge,
}
