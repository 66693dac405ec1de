using Microsoft.Extensions.Logging;
using Outpost.Agent.Apps;
using Outpost.Agent.Identity;
using Outpost.Agent.Logging;
using Outpost.Agent.Outbox;
using Outpost.Agent.Persistence;
using Outpost.Agent.Reporting;
using Outpost.Agent.Uplink;

namespace Outpost.Agent;

/// <summary>
/// The device agent: onboard, then keep polling config, reporting info/metrics/logs and delivering the outbox
/// until cancelled. This is the one entry point the CLI calls.
/// </summary>
public static partial class AgentHost
{
    /// <summary>
    /// Runs the agent. Returns 0 when cancelled, or, with <see cref="AgentOptions.ExitWhenOnline"/>, once the first
    /// config was fetched and the first device info delivered. Throws <see cref="OnboardingException"/> for a
    /// problem the operator must fix (missing CONFDIR files at once; onboarding refusals only after
    /// <see cref="AgentOptions.MaxOnboardingAttempts"/>).
    /// </summary>
    public static async Task<int> RunAsync(AgentOptions options, ILoggerFactory loggerFactory, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        Directory.CreateDirectory(options.StateDir);
        var time = options.TimeProvider;
        var state = new AgentStateStore(options.StateDir);

        var messageIds = new LogMessageIds(state.LogMessageIdPath);
        using var logBuffer = new CapturedLogBuffer(Path.Combine(options.StateDir, "logs"));
        using var capture = new AgentLogCapture(logBuffer, messageIds, time, options.ShippedLogLevel);
        using var loggers = new TeeLoggerFactory(loggerFactory, capture);
        var logger = loggers.CreateLogger("Outpost.Agent");

        var configuration = ConfigurationDirectory.Load(options.ConfigDir);
        var serials = DeviceSerials.Resolve(configuration.SoftSerial, DeviceSerials.ReadHardwareSerial());
        var keyStore = options.KeyStore ?? new FileDeviceKeyStore(options.StateDir, loggers.CreateLogger<FileDeviceKeyStore>(), time);
        var identity = keyStore.LoadOrCreate(serials.Serial);
        LogStarting(logger, options.AgentVersion, serials.Serial, configuration.Server);

        var statistics = new UplinkStatistics();
        using var client = new ControllerClient(configuration.ServerUri, configuration.RootCertificate, identity.Certificate, serials,
            statistics, time, loggers.CreateLogger<ControllerClient>(), options.Timings.RequestTimeout);
        var outbox = new PersistentOutbox(state.OutboxDirectory, options.OutboxQuotaBytes, loggers.CreateLogger<PersistentOutbox>());
        var onboarding = new DeviceOnboarding(client, configuration, identity, state, options, loggers.CreateLogger<DeviceOnboarding>());

        NewLogsShipper? shipper = null;
        AppPipeline? apps = null;
        try
        {
            var deviceUuid = await onboarding.StartAsync(ct).ConfigureAwait(false);
            string CurrentUuid() => client.DeviceUuid ?? deviceUuid;

            var poller = new ConfigPoller(client, onboarding, new Attestation(client, loggers.CreateLogger<Attestation>()), state, statistics, options,
                loggers.CreateLogger<ConfigPoller>());
            poller.ApplySavedConfig();

            var host = HostFacts.Read();
            var infoReporter = new DeviceInfoReporter(new DeviceInfoCollector(host, options.StateDir, options.AgentVersion, time), outbox,
                CurrentUuid, () => poller.Current, options.Timings, time, loggers.CreateLogger<DeviceInfoReporter>(),
                Path.Combine(options.StateDir, "info.device.last"));
            poller.Changed += _ => infoReporter.CheckNow();
            if (options.Apps.Enabled)
            {
                apps = new AppPipeline(options.StateDir, () => poller.Current, outbox, CurrentUuid, options.Apps, time, loggers);
                poller.Changed += _ => apps.Wake();
            }

            var appMetrics = apps is null ? null : new Func<IReadOnlyList<Org.Lfedge.Eve.Metrics.appMetric>>(() => apps.Apps.Metrics);
            var metricsReporter = new MetricsReporter(new MetricsCollector(options.StateDir, statistics, outbox, () => logBuffer.Dropped, time, appMetrics: appMetrics),
                client, () => poller.Current, time, loggers.CreateLogger<MetricsReporter>());
            shipper = new NewLogsShipper(logBuffer, outbox, CurrentUuid, host.BootPartitionLabel ?? "IMGA", options.AgentVersion,
                options.Timings.LogFlushInterval, time);
            var transport = new ControllerOutboxTransport(client, onboarding.RefreshCertificatesAsync);
            var sender = new OutboxSender(outbox, transport, loggers.CreateLogger<OutboxSender>(), time,
                options.Timings.OutboxRetryFirst, options.Timings.OutboxRetryMax);
            var firstInfoDelivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            sender.Delivered += item =>
            {
                if (item.Kind == OutboxKind.Info)
                {
                    firstInfoDelivered.TrySetResult();
                }
            };

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task[] loops =
            [
                poller.RunAsync(stop.Token),
                sender.RunAsync(stop.Token),
                infoReporter.RunAsync(stop.Token),
                metricsReporter.RunAsync(stop.Token),
                shipper.RunAsync(stop.Token),
                // Apps are never stopped when the agent stops: the next run adopts them.
                apps?.RunAsync(stop.Token) ?? Task.Delay(Timeout.Infinite, stop.Token),
            ];

            var online = Task.WhenAll(poller.FirstFetch, firstInfoDelivered.Task);
            var anyLoopEnded = Task.WhenAny(loops);
            try
            {
                if (options.ExitWhenOnline)
                {
                    await Task.WhenAny(online, anyLoopEnded).WaitAsync(ct).ConfigureAwait(false);
                    if (online.IsCompleted)
                    {
                        LogOnline(logger, CurrentUuid());
                    }
                }
                else
                {
                    await anyLoopEnded.WaitAsync(ct).ConfigureAwait(false);
                }
            }
            finally
            {
                await stop.CancelAsync().ConfigureAwait(false);
                await AwaitStoppedAsync(loops, logger).ConfigureAwait(false);
            }

            // A loop that ended by itself crashed: surface its exception rather than pretending all is well.
            foreach (var loop in loops.Where(l => l.IsFaulted))
            {
                await loop.ConfigureAwait(false);
            }

            return 0;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return 0;
        }
        finally
        {
            LogStopping(logger);
            // Lines logged while stopping go into the outbox too; the next run delivers them.
            shipper?.Flush();
            messageIds.SaveExact();
            if (apps is not null)
            {
                await apps.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task AwaitStoppedAsync(Task[] loops, ILogger logger)
    {
        foreach (var loop in loops)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                LogLoopFailed(logger, e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Outpost agent {Version} starting: serial {Serial}, controller {Server}")]
    private static partial void LogStarting(ILogger logger, string version, string serial, string server);

    [LoggerMessage(Level = LogLevel.Information, Message = "Device {DeviceUuid} is online: config fetched and device info delivered")]
    private static partial void LogOnline(ILogger logger, string deviceUuid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outpost agent stopping")]
    private static partial void LogStopping(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "An agent loop failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}
