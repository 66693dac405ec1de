using Outpost.Agent.Bus;

namespace Outpost.Agent.Node;

/// <summary>
/// What the node subsystem asks of the others: <see cref="HaltApps"/> stops every app (a commanded reboot or
/// shutdown is under way) whatever the config says, until the next boot.
/// </summary>
public sealed record NodeIntent(bool HaltApps, string Reason) : IKeyed
{
    public const string SingletonKey = "node";

    public string Key => SingletonKey;
}
