using System.Text;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Logs;
using Outpost.Agent.Configuration;
using Outpost.Agent.Outbox;
using Outpost.Agent.Workloads;
using Outpost.Api.Logs;

namespace Outpost.Agent.Apps;

/// <summary>
/// Ships each app's console output as app newlogs: complete lines from the offset saved in app.json are packed
/// into gzip files (the app's display name in the gzip header) and stored in the outbox, then the offset is saved.
/// A crash between the two sends those lines again rather than losing them.
/// </summary>
public sealed class AppConsoleShipper(
    AppReconciler apps,
    Func<string, long, CancellationToken, IAsyncEnumerable<ConsoleChunk>> readConsole,
    PersistentOutbox outbox,
    TimeProvider time)
{
    /// <summary>A line longer than this is cut and shipped in pieces rather than held back forever.</summary>
    private const int MaxHeldBytes = 64 * 1024;

    /// <summary>
    /// The outbox key of an app newlogs file: the app UUID, the console offset it starts at and the time it was
    /// packed (offsets start over after a purge, and an undelivered older file must not be superseded).
    /// </summary>
    public static string OutboxKey(string appUuid, long offset, DateTimeOffset packed) => $"{appUuid}_{offset}_{packed.ToUnixTimeMilliseconds()}";

    public static string AppUuidFromKey(string key) => key.Split('_', 2)[0];

    public async Task ShipAsync(DesiredState desired, CancellationToken cancellationToken)
    {
        foreach (var app in desired.Apps.Values.Where(a => !a.DisableLogs))
        {
            var recordPath = apps.RecordPath(app.Uuid);
            if (!File.Exists(recordPath))
            {
                continue;
            }

            var record = AppRecord.Load(recordPath);
            if (record.PreparedRootfs is null)
            {
                continue;
            }

            var (start, data) = await ReadAsync(app.Uuid, record.ConsoleOffset, cancellationToken).ConfigureAwait(false);
            if (data.Length == 0)
            {
                continue;
            }

            var end = Array.LastIndexOf(data, (byte)'\n') + 1;
            if (end == 0 && data.Length >= MaxHeldBytes)
            {
                end = data.Length;
            }

            if (end == 0)
            {
                if (start != record.ConsoleOffset)
                {
                    (record with { ConsoleOffset = start }).Save(recordPath);
                }

                continue;
            }

            var now = time.GetUtcNow();
            var entries = Encoding.UTF8.GetString(data, 0, end).Split('\n')
                .Where(line => line.Length > 0)
                .Select(line => new LogEntry
                {
                    Severity = "info",
                    Source = app.DisplayName,
                    Content = line.TrimEnd('\r'),
                    Timestamp = Timestamp.FromDateTimeOffset(now),
                })
                .ToList();
            if (entries.Count > 0)
            {
                var files = NewLogsFormat.Pack(entries, new NewLogsHeader(null, null, null, AppName: app.DisplayName), now);
                var offset = start;
                foreach (var file in files)
                {
                    outbox.Enqueue(OutboxKind.AppNewLogs, OutboxKey(app.Uuid, offset++, now), file);
                }
            }

            // Re-read: the reconciler may have reset the offset (a purge) while we were reading.
            var current = AppRecord.Load(recordPath);
            if (current.PreparedRootfs == record.PreparedRootfs && current.ConsoleOffset == record.ConsoleOffset)
            {
                (current with { ConsoleOffset = start + end }).Save(recordPath);
            }
        }
    }

    private async Task<(long Start, byte[] Data)> ReadAsync(string uuid, long offset, CancellationToken cancellationToken)
    {
        long? start = null;
        var buffer = new MemoryStream();
        try
        {
            await foreach (var chunk in readConsole(uuid, offset, cancellationToken).ConfigureAwait(false))
            {
                // A chunk before the saved offset means the log was reset (recreated workload); after it, rotated away.
                start ??= chunk.Offset;
                buffer.Write(chunk.Data.Span);
                if (buffer.Length >= 4 * MaxHeldBytes)
                {
                    break;
                }
            }
        }
        catch (WorkloadNotFoundException)
        {
        }

        return (start ?? offset, buffer.ToArray());
    }
}
