using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Logs;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Hosting;
using Outpost.Agent.Outbox;
using Outpost.Agent.Persistence;
using Outpost.Agent.Workloads;
using Outpost.Api.Logs;

namespace Outpost.Agent.Apps;

/// <summary>
/// Ships each app's console output as app newlogs. It reads the console through the workload driver's interface
/// from the offset it saved (STATE/consoles/UUID.json, its own file), packs complete lines into gzip files (the
/// app's display name in the gzip header), stores them in the outbox's log lane, then saves the new offset; a crash
/// between the two sends those lines again rather than losing them. A workload prepared anew (its
/// <see cref="AppStatus.WorkloadGeneration"/> changed) starts its console over from offset 0.
/// </summary>
public sealed partial class AppConsoleService(
    StateBus bus,
    WorkloadRuntime runtime,
    PersistentOutbox outbox,
    AgentOptions options,
    AgentHealth health,
    ILogger<AppConsoleService> logger) : ReconcilingService(health, options.TimeProvider, logger)
{
    /// <summary>A line longer than this is cut and shipped in pieces rather than held back forever.</summary>
    private const int MaxHeldBytes = 64 * 1024;

    private readonly string _directory = Path.Combine(options.StateDir, "consoles");

    protected override IReadOnlyList<ITopic> Watched => [bus.Topic<AppStatus>()];

    protected override TimeSpan PollInterval => options.Apps.PollInterval;

    /// <summary>
    /// The outbox key of an app newlogs file: the app UUID, the console offset it starts at and the time it was
    /// packed (offsets start over after a purge, and an undelivered older file must not be superseded).
    /// </summary>
    public static string OutboxKey(string appUuid, long offset, DateTimeOffset packed) => $"{appUuid}_{offset}_{packed.ToUnixTimeMilliseconds()}";

    public static string AppUuidFromKey(string key) => key.Split('_', 2)[0];

    protected override async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        if (runtime.Driver is not { } driver)
        {
            return;
        }

        var statuses = bus.Topic<AppStatus>().Current;
        var specs = bus.Topic<AppSpec>().Current;
        foreach (var status in statuses.Values)
        {
            if (status.WorkloadGeneration is { } generation && specs.GetValueOrDefault(status.Uuid) is { DisableLogs: false } spec)
            {
                await ShipAsync(driver, spec, generation, cancellationToken).ConfigureAwait(false);
            }
        }

        // Offsets of apps that are gone; only once the app subsystem has looked at every app, or a restarted agent
        // would forget every offset before the apps' statuses are back and ship every console from the start.
        if (bus.Topic<AppInventory>().Get(AppInventory.SingletonKey) is { Complete: true })
        {
            Forget(statuses, specs);
        }
    }

    private async Task ShipAsync(IWorkloadDriver driver, AppSpec app, string generation, CancellationToken cancellationToken)
    {
        var path = OffsetPath(app.Uuid);
        var saved = Load(path);
        var offset = saved?.Generation == generation ? saved.Offset : 0;
        var (start, data) = await ReadAsync(driver, app.Uuid, offset, cancellationToken).ConfigureAwait(false);
        var end = Array.LastIndexOf(data, (byte)'\n') + 1;
        if (end == 0 && data.Length >= MaxHeldBytes)
        {
            end = data.Length;
        }

        if (end > 0)
        {
            var now = Time.GetUtcNow();
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
            var files = NewLogsFormat.Pack(entries, new NewLogsHeader(null, null, null, AppName: app.DisplayName), now);
            var fileOffset = start;
            foreach (var file in files)
            {
                // On a full disk the outbox drops log files (counted); the offset moves on all the same.
                outbox.Enqueue(OutboxKind.AppNewLogs, OutboxKey(app.Uuid, fileOffset++, now), file);
            }
        }

        var next = start + end;
        if (saved is null || saved.Generation != generation || saved.Offset != next)
        {
            Save(path, new ConsoleOffset(generation, next));
        }
    }

    private static async Task<(long Start, byte[] Data)> ReadAsync(IWorkloadDriver driver, string uuid, long offset, CancellationToken cancellationToken)
    {
        long? start = null;
        var buffer = new MemoryStream();
        try
        {
            await foreach (var chunk in driver.ReadConsoleAsync(uuid, offset, cancellationToken).ConfigureAwait(false))
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

    private void Forget(IReadOnlyDictionary<string, AppStatus> statuses, IReadOnlyDictionary<string, AppSpec> specs)
    {
        if (!Directory.Exists(_directory))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(_directory, "*.json"))
        {
            var uuid = Path.GetFileNameWithoutExtension(file);
            if (!statuses.ContainsKey(uuid) && !specs.ContainsKey(uuid))
            {
                File.Delete(file);
            }
        }
    }

    // The app id was validated as a canonical UUID before it reached the bus.
    private string OffsetPath(string uuid) => Path.Combine(_directory, uuid + ".json");

    private static ConsoleOffset? Load(string path) =>
        AtomicFile.TryRead(path) is { } bytes ? JsonSerializer.Deserialize(bytes, ConsoleOffsetJson.Default.ConsoleOffset) : null;

    private static void Save(string path, ConsoleOffset offset)
    {
        try
        {
            AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(offset, ConsoleOffsetJson.Default.ConsoleOffset));
        }
        catch (IOException e) when (StorageHealth.IsStorageFailure(e))
        {
            // The lines are in the outbox or dropped; at worst the next pass ships them again.
        }
    }

    private sealed record ConsoleOffset(string Generation, long Offset);

    [JsonSerializable(typeof(ConsoleOffset))]
    private sealed partial class ConsoleOffsetJson : JsonSerializerContext;
}
