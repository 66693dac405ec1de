using Microsoft.Extensions.Logging;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>Runs the agent against a fixture controller with short retry periods and captured logs.</summary>
public sealed class AgentTestRun : IDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly ILoggerFactory _loggerFactory;

    public AgentTestRun(string configDir, string stateDir)
    {
        Logs = new CollectingLoggerProvider();
        _loggerFactory = LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(Logs));
        Options = new AgentOptions(configDir, stateDir)
        {
            Timings = new AgentTimings
            {
                OnboardingRetryFirst = TimeSpan.FromMilliseconds(50),
                OnboardingRetryMax = TimeSpan.FromMilliseconds(400),
                OutboxRetryFirst = TimeSpan.FromMilliseconds(50),
                OutboxRetryMax = TimeSpan.FromMilliseconds(400),
                ConfigRetryFirst = TimeSpan.FromMilliseconds(50),
                LogFlushInterval = TimeSpan.FromMilliseconds(200),
                DeviceInfoCheckInterval = TimeSpan.FromSeconds(1),
                RequestTimeout = TimeSpan.FromSeconds(10),
                StatusRetryInterval = TimeSpan.FromMilliseconds(200),
                StatusRefusedRetryFirst = TimeSpan.FromMilliseconds(300),
                StatusRefusedRetryMax = TimeSpan.FromSeconds(2),
                // As long as production's: the wait ends as soon as the outbox is empty, and a loaded 2-core CI needed
                // more than 2 s to deliver the ZDEVICE_STATE_REBOOTING report before the agent went down.
                RebootReportWait = TimeSpan.FromSeconds(10),
            },
            BootIdPath = Path.Combine(stateDir + ".boot_id"),
        };
        File.WriteAllText(Options.BootIdPath, Guid.NewGuid() + "\n");
    }

    public AgentOptions Options { get; set; }

    /// <summary>What a reboot of the host changes for the agent: the boot id.</summary>
    public void NewBoot() => File.WriteAllText(Options.BootIdPath, Guid.NewGuid() + "\n");

    public CollectingLoggerProvider Logs { get; }

    /// <summary>Runs until the agent returns; fails the test if it needed the safety timeout to stop.</summary>
    public async Task<int> RunToCompletionAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        var exitCode = await AgentHost.RunAsync(Options, _loggerFactory, timeout.Token);
        Assert.False(timeout.IsCancellationRequested, $"The agent did not finish on its own within {Patience}. Log:\n{Logs.Dump()}");
        return exitCode;
    }

    /// <summary>Starts the agent in the background; cancel <paramref name="stop"/> to end it.</summary>
    public Task<int> Start(CancellationToken stop) => Task.Run(() => AgentHost.RunAsync(Options, _loggerFactory, stop));

    public void Dispose() => _loggerFactory.Dispose();

    /// <summary>Polls a condition (real sockets need real waiting); fails with <paramref name="what"/> after the patience runs out.</summary>
    public async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (!condition())
        {
            if (timeout.IsCancellationRequested)
            {
                Assert.Fail($"Gave up waiting until {what}. Log:\n{Logs.Dump()}");
            }

            await Task.Delay(25);
        }
    }
}
