namespace Outpost.Agent.Workloads.Runc;

/// <summary>Where the driver keeps one workload's files under its state root.</summary>
internal sealed class WorkloadPaths(string stateRoot, string id)
{
    public string Directory { get; } = Path.Combine(stateRoot, "workloads", id);

    public string Bundle => Path.Combine(Directory, "bundle");

    public string RuntimeConfig => Path.Combine(Bundle, "config.json");

    /// <summary>Mount point of the overlay rootfs.</summary>
    public string RootfsMountPoint => Path.Combine(Bundle, "rootfs");

    public string Record => Path.Combine(Directory, "workload.json");

    public string ConsoleLog => Path.Combine(Directory, "console.log");

    /// <summary>Written by the shim when runc returns: the container's exit status.</summary>
    public string ExitStatus => Path.Combine(Directory, "exit-status");

    /// <summary>runc's own diagnostics (JSON lines), kept apart from the app's console.</summary>
    public string RuntimeLog => Path.Combine(Directory, "runc.log");

    public static string WorkloadsRoot(string stateRoot) => Path.Combine(stateRoot, "workloads");
}
