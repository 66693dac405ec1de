using Microsoft.Extensions.Logging;
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
/// Delivers the outbox strictly in order, one item at a time. A refused attempt waits 1 s, doubling up to
/// 15 min, and retries the same item, so the controller sees the same payload until it accepts it.
/// </summary>
public sealed partial class OutboxSender(
    PersistentOutbox outbox,
    IOutboxTransport transport,
    ILogger<OutboxSender> logger,
    TimeProvider time,
    TimeSpan? firstRetryDelay = null,
    TimeSpan? maxRetryDelay = null)
{
    private readonly ExponentialBackoff _backoff = new(firstRetryDelay ?? TimeSpan.FromSeconds(1), maxRetryDelay ?? TimeSpan.FromMinutes(15));

    /// <summary>Raised after an item was delivered (used to know when the first info reached the controller).</summary>
    public event Action<OutboxItem>? Delivered;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var item = await outbox.WaitForOldestAsync(cancellationToken).ConfigureAwait(false);
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

            var outcome = await transport.DeliverAsync(item, payload, cancellationToken).ConfigureAwait(false);
            switch (outcome)
            {
                case DeliveryOutcome.Delivered:
                    outbox.MarkDelivered(item);
                    _backoff.Reset();
                    Delivered?.Invoke(item);
                    break;
                case DeliveryOutcome.Rejected:
                    outbox.MarkRejected(item);
                    LogRejected(logger, item.Kind, item.Sequence);
                    break;
                default:
                    var delay = _backoff.NextDelay();
                    LogRetry(logger, item.Kind, item.Sequence, delay.TotalSeconds);
                    await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                    break;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Controller refused outbox item {Kind} #{Sequence} for good; dropped it")]
    private static partial void LogRejected(ILogger logger, OutboxKind kind, long sequence);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Outbox item {Kind} #{Sequence} not delivered; retrying in {DelaySeconds} s")]
    private static partial void LogRetry(ILogger logger, OutboxKind kind, long sequence, double delaySeconds);
}
