namespace Outpost.Agent.Tests.Workloads;

/// <summary>Tests that start real runc containers run one at a time: they share the host's cgroups and 2 CPUs.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RuncCollection
{
    public const string Name = "runc";
}
