using Outpost.Agent.Outbox;
using Outpost.Api.Logs;

namespace Outpost.Agent.Logging;

/// <summary>
/// Packs captured log lines into newlogs gzip files (at most 50,000 bytes each, EVE's cap) and stores each file
/// in the outbox, which delivers them oldest first. Runs every <see cref="AgentTimings.LogFlushInterval"/> and
/// once more at shutdown so lines logged while stopping are kept for the next run.
/// </summary>
public sealed class NewLogsShipper(
    CapturedLogBuffer buffer,
    PersistentOutbox outbox,
    Func<string> deviceUuid,
    string image,
    string agentVersion,
    TimeSpan flushInterval,
    TimeProvider time)
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(flushInterval, time, cancellationToken).ConfigureAwait(false);
            Flush();
        }
    }

    /// <summary>Moves everything captured so far into the outbox. Returns the number of files written.</summary>
    public int Flush()
    {
        var entries = buffer.DrainAll();
        if (entries.Count == 0)
        {
            return 0;
        }

        var header = new NewLogsHeader(deviceUuid(), image, agentVersion, AppName: null);
        var files = NewLogsFormat.Pack(entries, header, time.GetUtcNow());
        foreach (var file in files)
        {
            outbox.Enqueue(OutboxKind.NewLogs, key: null, file);
        }

        buffer.CommitDrain();
        return files.Count;
    }
}
