namespace Outpost.Agent.Reporting;

/// <summary>
/// /etc/outpost-release, which the image builder writes into every Outpost OS image (like EVE's /etc/eve-release):
/// KEY=VALUE lines VERSION, ARCH, HV and PLATFORM. Its presence is what tells the agent it runs on an Outpost OS.
/// </summary>
public sealed record OutpostRelease(string Version, string? Architecture, string? Hypervisor, string? Platform)
{
    public const string FileName = "outpost-release";

    /// <summary>The OS name the device reports: the release has no NAME line because the name is always Outpost.</summary>
    public string OperatingSystem => $"Outpost {Version}";

    /// <summary>The release in <paramref name="text"/>, or null when it has no VERSION (then it names no OS version).</summary>
    public static OutpostRelease? Parse(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var equals = line.IndexOf('=');
            if (equals > 0)
            {
                fields[line[..equals].Trim()] = line[(equals + 1)..].Trim().Trim('"');
            }
        }

        string? Field(string key) => fields.TryGetValue(key, out var value) && value.Length > 0 ? value : null;
        return Field("VERSION") is { } version ? new OutpostRelease(version, Field("ARCH"), Field("HV"), Field("PLATFORM")) : null;
    }

    /// <summary>ETC/outpost-release, or null on a host that is not an Outpost OS (or when it cannot be read).</summary>
    public static OutpostRelease? Read(string etcRoot)
    {
        try
        {
            return Parse(File.ReadAllText(Path.Combine(etcRoot, FileName)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
