using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;

namespace Outpost.Agent.BaseOs;

/// <summary>
/// A subsystem's request that the device reboot (an update to boot, a fallback to take). The node subsystem carries
/// it out as it does the controller's reboot command: apps halted first, the reason recorded for the next boot.
/// </summary>
public sealed record RebootRequest(BootReason Reason, string Text) : IKeyed
{
    public const string SingletonKey = "reboot";

    public string Key => SingletonKey;
}
