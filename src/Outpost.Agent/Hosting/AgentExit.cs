namespace Outpost.Agent.Hosting;

/// <summary>The agent's exit codes beyond 0 (stopped) and 1 (an error the message explains).</summary>
public static class AgentExitCodes
{
    /// <summary>The controller asked for a reboot and the host was not rebooted (<see cref="Node.NodePowerMode.Simulated"/>).</summary>
    public const int RebootRequested = 3;
}

/// <summary>Why the agent is ending, when it is not simply being stopped: set by whichever subsystem ends it.</summary>
public sealed class AgentExit
{
    public Exception? Fatal { get; private set; }

    public string? RebootReason { get; private set; }

    public void Fail(Exception exception) => Fatal ??= exception;

    public void RequestReboot(string reason) => RebootReason ??= reason;
}
