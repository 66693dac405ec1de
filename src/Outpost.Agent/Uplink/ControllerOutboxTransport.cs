using Outpost.Agent.Outbox;

namespace Outpost.Agent.Uplink;

/// <summary>
/// Delivers outbox items to the controller. Items hold the payload only; it is signed at send time, so every
/// retry carries the identical payload and the controller can de-duplicate it.
/// </summary>
public sealed class ControllerOutboxTransport(ControllerClient client, Func<CancellationToken, Task> onCertMiss) : IOutboxTransport
{
    public async Task<DeliveryOutcome> DeliverAsync(OutboxItem item, byte[] payload, CancellationToken cancellationToken)
    {
        if (client.DeviceUuid is not { } deviceUuid)
        {
            return DeliveryOutcome.RetryLater;
        }

        var result = item.Kind switch
        {
            OutboxKind.Info => await client.PostInfoAsync(deviceUuid, payload, cancellationToken).ConfigureAwait(false),
            OutboxKind.NewLogs => await client.PostNewLogsAsync(deviceUuid, payload, cancellationToken).ConfigureAwait(false),
            // A controller that does not know the app answers 4xx, and the file is dropped.
            OutboxKind.AppNewLogs when item.Key is { } key =>
                await client.PostAppNewLogsAsync(deviceUuid, Apps.AppConsoleService.AppUuidFromKey(key), payload, cancellationToken).ConfigureAwait(false),
            _ => throw new ArgumentOutOfRangeException(nameof(item), item.Kind, "Unknown outbox kind."),
        };

        if (result.Outcome == UplinkOutcome.CertMiss)
        {
            await onCertMiss(cancellationToken).ConfigureAwait(false);
        }

        return ToDeliveryOutcome(result.Outcome, result.StatusCode);
    }

    /// <summary>EVE's retry rule: network errors, 401/403/407/408/429 and 5xx retry forever; other 4xx drop the item.</summary>
    public static DeliveryOutcome ToDeliveryOutcome(UplinkOutcome outcome, int? status) => outcome switch
    {
        UplinkOutcome.Success or UplinkOutcome.NotModified => DeliveryOutcome.Delivered,
        // The controller accepted the item (2xx); only its answer was not trustworthy, and nothing is applied from it.
        UplinkOutcome.CertMiss or UplinkOutcome.BadResponse when status is >= 200 and < 300 => DeliveryOutcome.Delivered,
        UplinkOutcome.NotFound or UplinkOutcome.Conflict or UplinkOutcome.Refused => DeliveryOutcome.Rejected,
        _ => DeliveryOutcome.RetryLater,
    };
}
