namespace Outpost.Agent.Workloads.Runc;

/// <summary>The process exactly as runc will start it.</summary>
internal sealed record ContainerProcess(
    IReadOnlyList<string> Args,
    IReadOnlyList<string> Env,
    string WorkingDirectory,
    int Uid,
    int Gid,
    IReadOnlyList<int> AdditionalGids);
