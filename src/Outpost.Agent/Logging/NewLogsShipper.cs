using Microsoft.Extensions.Logging;
using Outpost.Agent.Hosting;
using Outpost.Agent.Outbox;
using Outpost.Agent.Reporting;
using Outpost.Agent.Uplink;
using Outpost.Api.Logs;

namespace Outpost.Agent.Logging;

/// <summary>
/// Packs captured log lines into newlogs gzip files (at most 50,000 bytes each, EVE's cap) and stores each file
/// in the outbox's log lane. Runs every <see cref="AgentTimings.LogFlushInterval"/> once the device has a UUID, and
/// once more when the agent stops (it is stopped last), so lines logged while stopping are kept for the next run. On a
/// full disk the outbox may drop a file; its lines are counted as dropped (log.dropped) and nothing else is held up.
/// </summary>
public sealed class NewLogsShipper(
    CapturedLogBuffer buffer,
    PersistentOutbox outbox,
    OnboardedDevice device,
    HostFacts host,
    AgentOptions options,
    AgentHealth health,
    ILogger<NewLogsShipper> logger) : SupervisedService(health, options.TimeProvider, logger)
{
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            await Task.Delay(options.Timings.LogFlushInterval, Time, stoppingToken).ConfigureAwait(false);
            Flush();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        Flush();
    }

    /// <summary>Moves everything captured so far into the outbox. Returns the number of files stored.</summary>
    public int Flush()
    {
        if (device.Uuid is not { } uuid)
        {
            // Newlogs name their device; lines from before onboarding wait (journaled) until it has a UUID.
            return 0;
        }

        var entries = buffer.DrainAll();
        if (entries.Count == 0)
        {
            return 0;
        }

        var header = new NewLogsHeader(uuid, host.BootPartitionLabel ?? "", options.AgentVersion, AppName: null);
        var files = NewLogsFormat.Pack(entries, header, Time.GetUtcNow());
        var lost = 0;
        foreach (var file in files)
        {
            // Null: the disk is full and the outbox dropped it (logs go first); its lines are counted as lost.
            if (outbox.Enqueue(OutboxKind.NewLogs, key: null, file) is null)
            {
                lost++;
            }
        }

        if (lost > 0)
        {
            buffer.DropDrained(entries.Count * lost / files.Count);
        }
        else
        {
            buffer.CommitDrain();
        }

        return files.Count - lost;
    }
}
