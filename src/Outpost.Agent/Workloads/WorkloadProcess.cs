namespace Outpost.Agent.Workloads;

/// <summary>
/// The process to run, as the image describes it plus what the deployment overrides.
/// Combined with Docker's rules: an entrypoint override drops the image's cmd,
/// a command override replaces cmd, env entries override the image's by name.
/// </summary>
public sealed record WorkloadProcess(ImageProcessConfig Image)
{
    public IReadOnlyList<string>? EntrypointOverride { get; init; }

    public IReadOnlyList<string>? CommandOverride { get; init; }

    /// <summary>"NAME=value" entries merged over the image's env.</summary>
    public IReadOnlyList<string> Env { get; init; } = [];

    public string? WorkingDirectory { get; init; }

    /// <summary>"uid", "uid:gid", "name" or "name:group"; names are looked up in the rootfs.</summary>
    public string? User { get; init; }
}

/// <summary>The process fields of an OCI image config (Entrypoint, Cmd, Env, WorkingDir, User).</summary>
public sealed record ImageProcessConfig(
    IReadOnlyList<string> Entrypoint,
    IReadOnlyList<string> Cmd,
    IReadOnlyList<string> Env,
    string? WorkingDirectory = null,
    string? User = null)
{
    public static ImageProcessConfig Empty { get; } = new([], [], []);
}
