using System.Collections.Concurrent;

namespace Outpost.Agent.Hosting;

/// <summary>How often each subsystem had to be restarted; reported as metric items so a crash loop is visible remotely.</summary>
public sealed class AgentHealth
{
    private readonly ConcurrentDictionary<string, long> _crashes = new(StringComparer.Ordinal);

    public void CountCrash(string subsystem) => _crashes.AddOrUpdate(subsystem, 1, (_, count) => count + 1);

    public IReadOnlyDictionary<string, long> Crashes => new Dictionary<string, long>(_crashes, StringComparer.Ordinal);
}
