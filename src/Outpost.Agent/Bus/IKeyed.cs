namespace Outpost.Agent.Bus;

/// <summary>
/// A record on the state bus. <see cref="Key"/> names the object it describes (an object UUID, or a fixed name such
/// as "device" for a singleton); a topic keeps the last record per key.
/// </summary>
public interface IKeyed
{
    string Key { get; }
}
