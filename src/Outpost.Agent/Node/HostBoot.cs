namespace Outpost.Agent.Node;

/// <summary>
/// Which boot of the host this is. Linux gives every boot a random id; state that records it (a workload's start,
/// the agent's last run) tells a reboot or power cut from an agent restart by comparing ids.
/// </summary>
public static class HostBoot
{
    public const string DefaultBootIdPath = "/proc/sys/kernel/random/boot_id";

    /// <summary>The boot id in <paramref name="path"/>, or "unknown" where the host has none (it then never changes).</summary>
    public static string ReadBootId(string path)
    {
        try
        {
            var id = File.ReadAllText(path).Trim();
            return id.Length > 0 ? id : "unknown";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }
}
