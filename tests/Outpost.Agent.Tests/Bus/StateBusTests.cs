using Outpost.Agent.Bus;

namespace Outpost.Agent.Tests.Bus;

public sealed class StateBusTests
{
    private sealed record Thing(string Key, ValueList<string> Tags) : IKeyed;

    [Fact]
    public async Task An_equal_record_changes_nothing_and_wakes_nobody_while_a_real_change_wakes_every_watcher()
    {
        var bus = new StateBus();
        var topic = bus.Topic<Thing>();
        Assert.True(topic.Publish(new Thing("a", ["x", "y"])));
        using var first = StateBus.Watch(topic);
        using var second = StateBus.Watch(topic);

        Assert.False(topic.Publish(new Thing("a", ["x", "y"])), "a record with equal lists is the same record");
        Assert.False(await first.WaitAsync(TimeSpan.FromMilliseconds(50), TimeProvider.System, CancellationToken.None));

        Assert.True(topic.Publish(new Thing("a", ["x"])));
        Assert.True(await first.WaitAsync(TimeSpan.FromSeconds(10), TimeProvider.System, CancellationToken.None));
        Assert.True(await second.WaitAsync(TimeSpan.FromSeconds(10), TimeProvider.System, CancellationToken.None));
        Assert.Equal(["x"], topic.Get("a")!.Tags);
    }

    [Fact]
    public async Task Many_changes_before_a_wait_wake_it_once_and_the_reader_sees_the_last_values()
    {
        var topic = new StateBus().Topic<Thing>();
        using var watch = StateBus.Watch(topic);
        for (var i = 0; i < 100; i++)
        {
            topic.Publish(new Thing("k", [i.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        }

        Assert.True(await watch.WaitAsync(TimeSpan.FromSeconds(10), TimeProvider.System, CancellationToken.None));
        Assert.False(await watch.WaitAsync(TimeSpan.FromMilliseconds(50), TimeProvider.System, CancellationToken.None));
        Assert.Equal(["99"], topic.Current["k"].Tags);
    }

    [Fact]
    public void Replace_all_removes_what_is_not_in_the_new_set_and_reports_each_change()
    {
        var topic = new StateBus().Topic<Thing>();
        topic.ReplaceAll([new Thing("a", []), new Thing("b", [])]);
        var changes = new List<(string, bool)>();
        topic.Changed += (key, record) => changes.Add((key, record is not null));

        Assert.True(topic.ReplaceAll([new Thing("b", []), new Thing("c", [])]));
        Assert.False(topic.ReplaceAll([new Thing("c", []), new Thing("b", [])]));

        Assert.Equal(["b", "c"], topic.Current.Keys.Order());
        Assert.Equal([("a", false), ("c", true)], changes.Order());
    }
}
