namespace Outpost.Agent;

/// <summary>
/// The device cannot join its controller for a reason the operator must fix. The message is one line:
/// what happened and what to do. The agent logs it and keeps retrying; it is thrown out of
/// <see cref="AgentHost.RunAsync"/> only when <see cref="AgentOptions.MaxOnboardingAttempts"/> runs out.
/// </summary>
public sealed class OnboardingException(OnboardingProblem problem, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public OnboardingProblem Problem { get; } = problem;
}

public enum OnboardingProblem
{
    /// <summary>A file in CONFDIR is missing or unreadable.</summary>
    MissingConfiguration,
    /// <summary>The controller cannot be reached (DNS, TCP, TLS).</summary>
    ControllerUnreachable,
    /// <summary>/certs does not chain to root-certificate.pem or breaks EVE's rules.</summary>
    UntrustedController,
    /// <summary>The system clock is outside the onboarding certificate's validity.</summary>
    ClockOutsideValidity,
    /// <summary>403 on register: serial not on the controller's allow list.</summary>
    NotPreRegistered,
    /// <summary>409 on register: the serial is bound to another device certificate.</summary>
    Conflict,
    /// <summary>Any other refusal.</summary>
    Refused,
}
