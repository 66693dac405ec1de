using System.Collections.Concurrent;

namespace Outpost.Agent.Bus;

/// <summary>
/// The agent's typed state bus: one <see cref="Topic{T}"/> per record type. The uplink publishes the controller's
/// desired state as records (apps, volumes, content trees, datastores, device settings); every subsystem publishes
/// what it observes as status records; subsystems watch the topics they converge on. Nobody reads another
/// subsystem's files or calls into it: the bus is the only way state crosses between them.
/// </summary>
public sealed class StateBus
{
    private readonly ConcurrentDictionary<Type, object> _topics = new();

    public Topic<T> Topic<T>()
        where T : class, IKeyed =>
        (Topic<T>)_topics.GetOrAdd(typeof(T), _ => new Topic<T>());

    /// <summary>A watch over several topics at once; dispose it when the subsystem stops.</summary>
    public static Watch Watch(params ITopic[] topics) => new(topics);
}
