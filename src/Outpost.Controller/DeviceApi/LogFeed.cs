using System.Collections.Concurrent;

namespace Outpost.Controller.DeviceApi;

/// <summary>Wakes `logs --follow` readers when a device's logs arrive, so they need not poll the store.</summary>
public sealed class LogFeed
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiters = new();

    public void Notify(Guid deviceId)
    {
        if (_waiters.TryRemove(deviceId, out var waiter))
        {
            waiter.TrySetResult();
        }
    }

    /// <summary>Completes when new logs arrive for the device or after <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(Guid deviceId, TimeSpan timeout, CancellationToken ct)
    {
        var waiter = _waiters.GetOrAdd(deviceId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        try
        {
            await waiter.Task.WaitAsync(timeout, ct);
        }
        catch (TimeoutException)
        {
        }
    }
}
