using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outpost.Agent.Apps;
using Outpost.Agent.Bus;
using Outpost.Agent.Content;
using Outpost.Agent.Hosting;
using Outpost.Agent.Identity;
using Outpost.Agent.Logging;
using Outpost.Agent.Node;
using Outpost.Agent.Outbox;
using Outpost.Agent.Persistence;
using Outpost.Agent.Reporting;
using Outpost.Agent.Uplink;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads;

namespace Outpost.Agent;

/// <summary>
/// The device agent's composition root and the one entry point the CLI calls. Every subsystem is a hosted service
/// (Microsoft.Extensions.Hosting) registered here, and the subsystems share nothing but the <see cref="StateBus"/>
/// and a few narrow interfaces (the workload driver, the content store, the outbox):
/// uplink (onboarding, config) → content → volumes → apps (+ consoles) and node (device operations), with the
/// reporters (object status, device info, metrics, logs) and the outbox sender carrying their status out.
/// </summary>
public static partial class AgentHost
{
    /// <summary>
    /// Runs the agent. Returns 0 when cancelled, or, with <see cref="AgentOptions.ExitWhenOnline"/>, once the first
    /// config was fetched and the first device info delivered; <see cref="AgentExitCodes.RebootRequested"/> after a
    /// simulated reboot. Throws <see cref="OnboardingException"/> for a problem the operator must fix (missing CONFDIR
    /// files at once; onboarding refusals only after <see cref="AgentOptions.MaxOnboardingAttempts"/>).
    /// </summary>
    public static async Task<int> RunAsync(AgentOptions options, ILoggerFactory loggerFactory, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        AtomicFile.CreatePrivateDirectory(options.StateDir);
        // An older agent may have left the state directory readable by others: it holds keys and passwords.
        File.SetUnixFileMode(options.StateDir, AtomicFile.PrivateDirectory);
        var time = options.TimeProvider;
        var bus = new StateBus();
        var storage = new StorageHealth(options.StateDir, bus, time);
        var state = new AgentStateStore(options.StateDir);
        var messageIds = new LogMessageIds(state.LogMessageIdPath);
        using var logBuffer = new CapturedLogBuffer(Path.Combine(options.StateDir, "logs"), storage: storage);
        using var capture = new AgentLogCapture(logBuffer, messageIds, time, options.ShippedLogLevel);
        using var loggers = new TeeLoggerFactory(loggerFactory, capture);
        var logger = loggers.CreateLogger("Outpost.Agent");

        var configuration = ConfigurationDirectory.Load(options.ConfigDir);
        var serials = DeviceSerials.Resolve(configuration.SoftSerial, DeviceSerials.ReadHardwareSerial());
        var keyStore = options.KeyStore ?? new FileDeviceKeyStore(options.StateDir, loggers.CreateLogger<FileDeviceKeyStore>(), time);
        var identity = keyStore.LoadOrCreate(serials.Serial);
        LogStarting(logger, options.AgentVersion, serials.Serial, configuration.Server);

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.Configure<HostOptions>(host =>
        {
            // Stopping waits for app steps under way (a stop with its grace period, or every app with StopAppsOnExit).
            host.ShutdownTimeout = options.Apps.StopGrace * 4 + TimeSpan.FromSeconds(30);
            host.ServicesStartConcurrently = false;
            host.ServicesStopConcurrently = false;
        });
        var services = builder.Services;
        services.AddSingleton<ILoggerFactory>(loggers);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddSingleton(options);
        services.AddSingleton(time);
        services.AddSingleton(bus);
        services.AddSingleton(storage);
        services.AddSingleton(state);
        services.AddSingleton(logBuffer);
        services.AddSingleton(configuration);
        services.AddSingleton(identity);
        services.AddSingleton<AgentHealth>();
        services.AddSingleton<AgentExit>();
        services.AddSingleton<OnboardedDevice>();
        services.AddSingleton<UplinkStatistics>();
        services.AddSingleton(HostFacts.Read());
        var bootId = HostBoot.ReadBootId(options.BootIdPath);

        services.AddSingleton(sp => new ControllerClient(configuration.ServerUri, configuration.TlsRoots, identity.Certificate, serials,
            sp.GetRequiredService<UplinkStatistics>(), time, sp.GetRequiredService<ILogger<ControllerClient>>(), options.Timings.RequestTimeout));
        services.AddSingleton(sp => new PersistentOutbox(state.OutboxDirectory, options.OutboxQuotas, storage, sp.GetRequiredService<ILogger<PersistentOutbox>>()));
        services.AddSingleton<StatusChannel>();
        services.AddSingleton<DeviceOnboarding>();
        services.AddSingleton<Attestation>();
        services.AddSingleton<ConfigPoller>();
        services.AddSingleton(sp => new DeviceInfoCollector(sp.GetRequiredService<HostFacts>(), options.StateDir, options.AgentVersion, time,
            HostRoots.Host, sp.GetRequiredService<ILogger<DeviceInfoCollector>>())
        {
            VmAccelerator = sp.GetRequiredService<WorkloadRuntime>().VmAccelerator,
        });
        services.AddSingleton(sp => new MetricsCollector(options.StateDir, sp.GetRequiredService<UplinkStatistics>(), sp.GetRequiredService<PersistentOutbox>(),
            logBuffer, bus, storage, sp.GetRequiredService<AgentHealth>(), time));
        services.AddSingleton<IOutboxTransport>(sp =>
        {
            var onboarding = sp.GetRequiredService<DeviceOnboarding>();
            return new ControllerOutboxTransport(sp.GetRequiredService<ControllerClient>(), onboarding.RefreshCertificatesAsync);
        });
        services.AddSingleton<INodePower>(sp => options.PowerOverride ?? (options.Power == NodePowerMode.Host
            ? new HostNodePower()
            : new SimulatedNodePower(sp.GetRequiredService<IHostApplicationLifetime>(), sp.GetRequiredService<AgentExit>())));
        services.AddSingleton(_ => new ContentStore(Path.Combine(options.StateDir, "content")));
        services.AddSingleton<IContentStore>(sp => sp.GetRequiredService<ContentStore>());
        services.AddSingleton(_ => WorkloadRuntime.Detect(options.StateDir, options.Apps.RuncPath, bootId, options.Apps.VmAccelerator, options.Apps.ContainerVmKitDirectory));

        // Started in this order and stopped in the reverse one. The log shipper stops last, so it packs every line logged
        // while stopping. The uplink starts first: it takes up the saved identity and config before it first waits, so
        // every other subsystem starts on the last known desired state, and the node reports ONLINE from its first info.
        services.AddHostedService<NewLogsShipper>();
        services.AddHostedService<UplinkService>();
        services.AddHostedService<NodeService>();
        if (options.HeartbeatPath is { } heartbeat)
        {
            services.AddHostedService(sp => new WatchdogHeartbeat(heartbeat, sp.GetRequiredService<AgentHealth>(), time, sp.GetRequiredService<ILogger<WatchdogHeartbeat>>()));
        }
        if (options.Apps.Enabled)
        {
            AddAppSubsystems(services);
            services.AddHostedService<RemoteConsoleService>();
        }

        // Off an Outpost disk (a laptop, a test without a disk image) it has nothing to look after.
        services.AddHostedService<BaseOs.BaseOsService>();
        services.AddHostedService<ObjectStatusReporter>();
        services.AddHostedService<DeviceInfoReporter>();
        services.AddHostedService<MetricsReporter>();
        services.AddHostedService(sp => new OutboxSender(sp.GetRequiredService<PersistentOutbox>(), sp.GetRequiredService<IOutboxTransport>(),
            sp.GetRequiredService<ILogger<OutboxSender>>(), time, options.Timings.OutboxRetryFirst, options.Timings.OutboxRetryMax, sp.GetRequiredService<AgentHealth>()));
        if (options.ExitWhenOnline)
        {
            services.AddHostedService<OnlineWatcher>();
        }

        using var host = builder.Build();
        var exit = host.Services.GetRequiredService<AgentExit>();
        try
        {
            await host.RunAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            LogStopping(logger);
            messageIds.SaveExact();
        }

        if (exit.Fatal is { } fatal)
        {
            throw fatal;
        }

        if (exit.RebootReason is { } reboot)
        {
            LogSimulatedReboot(logger, reboot);
            return AgentExitCodes.RebootRequested;
        }

        return 0;
    }

    /// <summary>The subsystems that run apps: content, volumes, apps and their consoles.</summary>
    public static void AddAppSubsystems(IServiceCollection services)
    {
        services.AddHostedService<ContentService>();
        services.AddHostedService<VolumeService>();
        services.AddHostedService<AppService>();
        services.AddHostedService<AppConsoleService>();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Outpost agent {Version} starting: serial {Serial}, controller {Server}")]
    private static partial void LogStarting(ILogger logger, string version, string serial, string server);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outpost agent stopping")]
    private static partial void LogStopping(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}: this host is not rebooted (power mode simulated); the agent ends as if it had been")]
    private static partial void LogSimulatedReboot(ILogger logger, string reason);
}
