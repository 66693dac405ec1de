using Microsoft.Extensions.Logging;
using Outpost.Agent.Hosting;
using Outpost.Agent.Timing;

namespace Outpost.Agent.Outbox;

/// <summary>How one delivery attempt ended.</summary>
public enum DeliveryOutcome
{
    Delivered,
    /// <summary>Network error, 401/403/407/408/429 or 5xx: keep the item and try again later.</summary>
    RetryLater,
    /// <summary>Any other 4xx: the controller will never accept this item; drop it and count it.</summary>
    Rejected,
}

/// <summary>Sends one stored item to the controller.</summary>
public interface IOutboxTransport
{
    Task<DeliveryOutcome> DeliverAsync(OutboxItem item, byte[] payload, CancellationToken cancellationToken);
}

/// <summary>
/// Delivers the outbox one item at a time, status before logs, oldest first within a lane. An item the controller
/// could not take now (no network, 5xx, 401/403/429) waits 1 s, doubling up to 15 min, and is tried again, so the
/// controller sees the same payload until it accepts it; the next attempt picks the lane's head again, so a status
/// that arrived meanwhile goes first. An item the controller refuses for good (another 4xx, e.g. 404 for one object)
/// is dropped and counted, and the next one is sent: one refusal never holds up or drops the rest.
/// </summary>
public sealed partial class OutboxSender(
    PersistentOutbox outbox,
    IOutboxTransport transport,
    ILogger<OutboxSender> logger,
    TimeProvider time,
    TimeSpan? firstRetryDelay = null,
    TimeSpan? maxRetryDelay = null,
    AgentHealth? health = null) : SupervisedService(health ?? new AgentHealth(), time, logger)
{
    private readonly ExponentialBackoff _backoff = new(firstRetryDelay ?? TimeSpan.FromSeconds(1), maxRetryDelay ?? TimeSpan.FromMinutes(15));

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var item = await outbox.WaitForNextAsync(cancellationToken).ConfigureAwait(false);
            byte[] payload;
            try
            {
                payload = item.ReadPayload();
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                // Superseded or dropped while we were waiting.
                continue;
            }
            catch (IOException e)
            {
                // The file cannot be read back (a failing disk): it can never be sent, so it goes like a refused one.
                LogUnreadable(logger, item.Kind, item.Sequence, e.Message);
                outbox.MarkRejected(item);
                continue;
            }

            var outcome = await transport.DeliverAsync(item, payload, cancellationToken).ConfigureAwait(false);
            switch (outcome)
            {
                case DeliveryOutcome.Delivered:
                    outbox.MarkDelivered(item);
                    _backoff.Reset();
                    break;
                case DeliveryOutcome.Rejected:
                    outbox.MarkRejected(item);
                    LogRejected(logger, item.Kind, item.Sequence);
                    break;
                default:
                    var delay = _backoff.NextDelay();
                    LogRetry(logger, item.Kind, item.Sequence, delay.TotalSeconds);
                    await Task.Delay(delay, Time, cancellationToken).ConfigureAwait(false);
                    break;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Controller refused outbox item {Kind} #{Sequence} for good; dropped it")]
    private static partial void LogRejected(ILogger logger, OutboxKind kind, long sequence);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox item {Kind} #{Sequence} cannot be read back ({Reason}); dropped it")]
    private static partial void LogUnreadable(ILogger logger, OutboxKind kind, long sequence, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Outbox item {Kind} #{Sequence} not delivered; retrying in {DelaySeconds} s")]
    private static partial void LogRetry(ILogger logger, OutboxKind kind, long sequence, double delaySeconds);
}
