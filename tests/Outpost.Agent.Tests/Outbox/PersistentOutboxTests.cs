using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Outpost.Agent.Outbox;
using Outpost.Agent.Tests.Fixtures;

namespace Outpost.Agent.Tests.Outbox;

public sealed class PersistentOutboxTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private PersistentOutbox Open(long quota = 1024 * 1024) =>
        new(Path.Combine(_temp.Path, "outbox"), quota, NullLogger<PersistentOutbox>.Instance);

    private static string Text(OutboxItem item) => Encoding.UTF8.GetString(item.ReadPayload());

    private static List<string> DrainAll(PersistentOutbox outbox)
    {
        var seen = new List<string>();
        while (outbox.Peek() is { } item)
        {
            seen.Add(Text(item));
            outbox.MarkDelivered(item);
        }

        return seen;
    }

    [Fact]
    public void Items_come_out_in_the_order_they_went_in()
    {
        var outbox = Open();
        foreach (var name in new[] { "a", "b", "c" })
        {
            outbox.Enqueue(OutboxKind.NewLogs, null, Encoding.UTF8.GetBytes(name));
        }

        Assert.Equal(["a", "b", "c"], DrainAll(outbox));
        Assert.Equal(3, outbox.Counters.Delivered);
    }

    [Fact]
    public void Undelivered_items_survive_a_restart_and_new_ones_queue_behind_them()
    {
        var first = Open();
        first.Enqueue(OutboxKind.NewLogs, null, "one"u8);
        first.Enqueue(OutboxKind.Info, "device", "two"u8);
        Assert.Equal("two", Text(first.Peek()!));
        first.MarkDelivered(first.Peek()!);
        first.Enqueue(OutboxKind.NewLogs, null, "three"u8);

        var second = Open();
        second.Enqueue(OutboxKind.NewLogs, null, "four"u8);

        // "two" (status) went first although it came second; the logs keep their order.
        Assert.Equal(["one", "three", "four"], DrainAll(second));
        Assert.Equal(4, Open().Counters.Delivered);
    }

    [Fact]
    public void Over_quota_the_oldest_items_are_dropped_counted_and_the_count_persists()
    {
        var outbox = Open(quota: 250);
        for (var i = 0; i < 5; i++)
        {
            outbox.Enqueue(OutboxKind.NewLogs, null, Encoding.UTF8.GetBytes($"{i}" + new string('x', 99)));
        }

        Assert.Equal(2, outbox.Count);
        Assert.True(outbox.TotalBytes <= 250, $"outbox holds {outbox.TotalBytes} bytes, quota 250");
        Assert.Equal(3, outbox.Counters.DroppedOverQuota);
        Assert.Equal(["3", "4"], DrainAll(outbox).Select(s => s[..1]));
        Assert.Equal(3, Open(quota: 250).Counters.DroppedOverQuota);
    }

    [Fact]
    public void Newer_info_for_the_same_object_supersedes_the_undelivered_older_one()
    {
        var outbox = Open();
        outbox.Enqueue(OutboxKind.Info, "device", "device v1"u8);
        outbox.Enqueue(OutboxKind.NewLogs, null, "logs"u8);
        outbox.Enqueue(OutboxKind.Info, "app-1", "app v1"u8);
        outbox.Enqueue(OutboxKind.Info, "device", "device v2"u8);

        // Status goes before logs, oldest first; the superseded device v1 is gone.
        Assert.Equal(["app v1", "device v2", "logs"], DrainAll(outbox));
    }

    [Fact]
    public void Rejected_items_are_removed_and_counted()
    {
        var outbox = Open();
        outbox.Enqueue(OutboxKind.Info, "device", "bad"u8);
        outbox.MarkRejected(outbox.Peek()!);

        Assert.Null(outbox.Peek());
        Assert.Equal(1, Open().Counters.Rejected);
    }

    [Fact]
    public void Sequence_keeps_increasing_after_the_outbox_was_emptied_and_reopened()
    {
        var first = Open();
        var a = first.Enqueue(OutboxKind.NewLogs, null, "a"u8)!;
        first.MarkDelivered(a);

        var b = Open().Enqueue(OutboxKind.NewLogs, null, "b"u8)!;

        Assert.True(b.Sequence > a.Sequence, $"sequence went from {a.Sequence} to {b.Sequence}");
    }

    [Fact]
    public void Keys_that_could_escape_the_file_name_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Open().Enqueue(OutboxKind.Info, "../evil", "x"u8));
    }
}
