using Microsoft.Extensions.Logging.Abstractions;
using Outpost.Agent.Outbox;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Uplink;

namespace Outpost.Agent.Tests.Outbox;

public sealed class OutboxSenderTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private sealed class ScriptedTransport(params DeliveryOutcome[] outcomes) : IOutboxTransport
    {
        private int _calls;

        public List<string> Attempts { get; } = [];

        public Task<DeliveryOutcome> DeliverAsync(OutboxItem item, byte[] payload, CancellationToken cancellationToken)
        {
            lock (Attempts)
            {
                Attempts.Add(System.Text.Encoding.UTF8.GetString(payload));
            }

            var outcome = _calls < outcomes.Length ? outcomes[_calls] : DeliveryOutcome.Delivered;
            _calls++;
            return Task.FromResult(outcome);
        }
    }

    [Fact]
    public async Task Refused_delivery_backs_off_1_2_4_seconds_and_retries_the_same_payload()
    {
        var outbox = new PersistentOutbox(_temp.Path, 1 << 20, NullLogger<PersistentOutbox>.Instance);
        outbox.Enqueue(OutboxKind.Info, "device", "payload"u8);
        var transport = new ScriptedTransport(DeliveryOutcome.RetryLater, DeliveryOutcome.RetryLater, DeliveryOutcome.RetryLater);
        var time = new ManualTimeProvider();
        var sender = new OutboxSender(outbox, transport, NullLogger<OutboxSender>.Instance, time);
        await sender.StartAsync(CancellationToken.None);

        var delays = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await Eventually(() => time.PendingDelays().Count == 1);
            var delay = time.PendingDelays().Single();
            delays.Add(delay);
            time.Advance(delay);
        }

        await Eventually(() => outbox.Count == 0);
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)], delays);
        Assert.Equal(["payload", "payload", "payload", "payload"], transport.Attempts);
        await sender.StopAsync(CancellationToken.None);
        Assert.True(sender.ExecuteTask!.IsCompletedSuccessfully, "the sender ends cleanly when stopped");
    }

    [Fact]
    public async Task Permanently_refused_item_is_dropped_and_the_next_one_is_sent()
    {
        var outbox = new PersistentOutbox(_temp.Path, 1 << 20, NullLogger<PersistentOutbox>.Instance);
        outbox.Enqueue(OutboxKind.NewLogs, null, "first"u8);
        outbox.Enqueue(OutboxKind.NewLogs, null, "second"u8);
        var transport = new ScriptedTransport(DeliveryOutcome.Rejected);
        var sender = new OutboxSender(outbox, transport, NullLogger<OutboxSender>.Instance, new ManualTimeProvider());
        await sender.StartAsync(CancellationToken.None);

        await Eventually(() => outbox.Count == 0);

        Assert.Equal(["first", "second"], transport.Attempts);
        Assert.Equal(1, outbox.Counters.Rejected);
        Assert.Equal(1, outbox.Counters.Delivered);
        await sender.StopAsync(CancellationToken.None);
        Assert.True(sender.ExecuteTask!.IsCompletedSuccessfully, "the sender ends cleanly when stopped");
    }

    [Theory]
    [InlineData(UplinkOutcome.Success, 201, DeliveryOutcome.Delivered)]
    [InlineData(UplinkOutcome.Unreachable, null, DeliveryOutcome.RetryLater)]
    [InlineData(UplinkOutcome.RetryLater, 503, DeliveryOutcome.RetryLater)]
    [InlineData(UplinkOutcome.RetryLater, 429, DeliveryOutcome.RetryLater)]
    [InlineData(UplinkOutcome.Forbidden, 403, DeliveryOutcome.RetryLater)]
    [InlineData(UplinkOutcome.NotFound, 404, DeliveryOutcome.Rejected)]
    [InlineData(UplinkOutcome.Refused, 422, DeliveryOutcome.Rejected)]
    [InlineData(UplinkOutcome.BadResponse, 201, DeliveryOutcome.Delivered)]
    public void Delivery_outcome_follows_EVE_retry_rules(UplinkOutcome outcome, int? status, DeliveryOutcome expected) =>
        Assert.Equal(expected, ControllerOutboxTransport.ToDeliveryOutcome(outcome, status));

    private static async Task Eventually(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, "condition not reached");
            await Task.Delay(5);
        }
    }
}
