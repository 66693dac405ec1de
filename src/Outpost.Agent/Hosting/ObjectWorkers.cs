namespace Outpost.Agent.Hosting;

/// <summary>
/// Runs the slow steps of a subsystem (a download, an unpack, stopping an app with its grace period) one at a time
/// per object and concurrently across objects, so one slow object never stalls the others. The reconcile pass stays
/// quick: it starts a step for an idle object and skips a busy one; when a step that moved its object ends,
/// <c>finished</c> asks for a pass. A step that found nothing to do does not: the pass that started it already saw
/// the world as it is, and waking for it would make an idle subsystem spin.
/// </summary>
public sealed class ObjectWorkers(Action finished) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (Task Task, CancellationTokenSource Cancel)> _running = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();

    public bool IsBusy(string key)
    {
        lock (_gate)
        {
            return _running.ContainsKey(key);
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _running.Count;
            }
        }
    }

    /// <summary>Starts <paramref name="step"/> (a slow step that always moves its object) unless one already runs for <paramref name="key"/>.</summary>
    public bool TryStart(string key, Func<CancellationToken, Task> step, Action<Exception>? failed = null) =>
        TryStart(key, async ct =>
        {
            await step(ct).ConfigureAwait(false);
            return true;
        }, failed);

    /// <summary>
    /// Starts <paramref name="step"/> for <paramref name="key"/> unless one already runs; returns whether it started.
    /// The step returns whether it moved its object (then a pass follows at once; otherwise at the next poll).
    /// </summary>
    /// <remarks>
    /// The step handles its own errors; an exception that escapes it is passed to <paramref name="failed"/> and the
    /// next try waits for the poll interval, so a step that keeps failing does not spin either.
    /// </remarks>
    public bool TryStart(string key, Func<CancellationToken, Task<bool>> step, Action<Exception>? failed = null)
    {
        lock (_gate)
        {
            if (_running.ContainsKey(key) || _stopping.IsCancellationRequested)
            {
                return false;
            }

            var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            var task = Task.Run(async () =>
            {
                var progressed = false;
                try
                {
                    progressed = await step(cancel.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                }
                catch (Exception e)
                {
                    failed?.Invoke(e);
                }
                finally
                {
                    lock (_gate)
                    {
                        _running.Remove(key);
                    }

                    cancel.Dispose();
                    if (progressed)
                    {
                        finished();
                    }
                }
            });
            _running[key] = (task, cancel);
            return true;
        }
    }

    /// <summary>Cancels the step running for <paramref name="key"/>, if any (its object left the config).</summary>
    public void Cancel(string key)
    {
        lock (_gate)
        {
            if (_running.TryGetValue(key, out var running))
            {
                running.Cancel.Cancel();
            }
        }
    }

    /// <summary>Waits for every running step to end; with <paramref name="cancel"/>, asks them to stop first.</summary>
    public async Task DrainAsync(bool cancel)
    {
        Task[] tasks;
        lock (_gate)
        {
            if (cancel)
            {
                _stopping.Cancel();
            }

            tasks = _running.Values.Select(r => r.Task).ToArray();
        }

        await Task.WhenAll(tasks).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        await DrainAsync(cancel: true).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
