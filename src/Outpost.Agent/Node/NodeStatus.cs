using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;

namespace Outpost.Agent.Node;

/// <summary>What the node subsystem reports of the device itself; device info carries it.</summary>
/// <param name="RestartCounter">Boots of this device since its state directory was created (EVE: the value before this boot's increment).</param>
/// <param name="RebootConfigCounter">The last reboot counter from the controller the device has taken (as a baseline or acted on).</param>
/// <param name="ShutdownConfigCounter">Likewise for shutdown.</param>
public sealed record NodeStatus(
    ZDeviceState State,
    BootReason LastBootReason,
    string LastRebootReason,
    DateTimeOffset? LastRebootTime,
    uint RestartCounter,
    uint? RebootConfigCounter,
    uint? ShutdownConfigCounter) : IKeyed
{
    public const string SingletonKey = "node";

    public string Key => SingletonKey;

    public bool RebootInProgress => State == ZDeviceState.Rebooting;
}
