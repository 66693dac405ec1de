using System.Reflection;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Identity;
using Outpost.Agent.Node;
using Outpost.Agent.Outbox;

namespace Outpost.Agent;

/// <summary>
/// How to run the agent. <paramref name="ConfigDir"/> holds EVE's CONFDIR files (server, root-certificate.pem,
/// onboard.cert.pem, onboard.key.pem, soft_serial); <paramref name="StateDir"/> is where everything the agent
/// must remember lives (the device key, UUID, outbox, last config).
/// </summary>
public sealed record AgentOptions(string ConfigDir, string StateDir)
{
    /// <summary>Return 0 after the first successful config fetch and the first delivered device info.</summary>
    public bool ExitWhenOnline { get; init; }

    /// <summary>Bytes each outbox lane may hold; past it that lane's oldest undelivered items are dropped and counted.</summary>
    public OutboxQuotas OutboxQuotas { get; init; } = OutboxQuotas.Default;

    /// <summary>Where the host's boot id is read; tests point it at a file they change to simulate a reboot.</summary>
    public string BootIdPath { get; init; } = HostBoot.DefaultBootIdPath;

    /// <summary>What a reboot command from the controller does (see <see cref="NodePowerMode"/>).</summary>
    public NodePowerMode Power { get; init; } = NodePowerMode.Simulated;

    /// <summary>A reboot for tests and embedders; overrides <see cref="Power"/>.</summary>
    public INodePower? PowerOverride { get; init; }

    /// <summary>Give up onboarding after this many failed attempts and throw <see cref="OnboardingException"/>; null retries forever.</summary>
    public int? MaxOnboardingAttempts { get; init; }

    /// <summary>Lowest level of the agent's own log lines shipped to the controller as newlogs.</summary>
    public LogLevel ShippedLogLevel { get; init; } = LogLevel.Information;

    /// <summary>A file touched every few seconds while the agent is healthy (PID 1 pets the hardware watchdog on it); null for none.</summary>
    public string? HeartbeatPath { get; init; }

    public AgentTimings Timings { get; init; } = new();

    /// <summary>How apps from the controller's config are fetched and run.</summary>
    public Apps.AppRuntimeOptions Apps { get; init; } = new();

    /// <summary>A/B OS updates: where the boot disk is (found by itself on a device).</summary>
    public BaseOs.BaseOsOptions BaseOs { get; init; } = new();

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where the device key lives; null means files in <see cref="StateDir"/> (a TPM store can come later).</summary>
    public IDeviceKeyStore? KeyStore { get; init; }

    /// <summary>Reported as the running image's short version.</summary>
    public string AgentVersion { get; init; } =
        typeof(AgentOptions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
