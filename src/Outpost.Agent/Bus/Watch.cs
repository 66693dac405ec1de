using System.Threading.Channels;

namespace Outpost.Agent.Bus;

/// <summary>
/// Wakes a subsystem when any of the topics it watches changes. Changes coalesce: however many happened, the next
/// <see cref="WaitAsync"/> returns once, and the subsystem reads the topics' current records.
/// </summary>
public sealed class Watch : IDisposable
{
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ITopic[] _topics;

    internal Watch(ITopic[] topics)
    {
        _topics = topics;
        foreach (var topic in topics)
        {
            topic.Add(this);
        }
    }

    /// <summary>Wakes the watcher as if a topic changed (a download moved, a timer fired, a worker finished).</summary>
    public void Signal() => _signal.Writer.TryWrite(true);

    /// <summary>Returns true as soon as something changed since the last wait, false when <paramref name="timeout"/> passed first.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (_signal.Reader.TryRead(out _))
        {
            return true;
        }

        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, time, timer.Token);
        var changed = _signal.Reader.WaitToReadAsync(timer.Token).AsTask();
        var first = await Task.WhenAny(changed, delay).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return first == changed && _signal.Reader.TryRead(out _);
    }

    public void Dispose()
    {
        foreach (var topic in _topics)
        {
            topic.Remove(this);
        }
    }
}
