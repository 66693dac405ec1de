namespace Outpost.Agent.Uplink;

/// <summary>
/// The device's UUID once onboarding (or the saved state of an earlier run) gave it one; reporters stamp it into
/// every message. Set by the uplink only.
/// </summary>
public sealed class OnboardedDevice
{
    private volatile string? _uuid;

    public string? Uuid
    {
        get => _uuid;
        set => _uuid = value;
    }
}
