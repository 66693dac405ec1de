using Outpost.Oci.References;

namespace Outpost.Oci.Registry;

/// <summary>Maps a registry name from a reference to the URL its API is served at.</summary>
internal static class RegistryEndpoint
{
    private const string DockerHubApiHost = "registry-1.docker.io";

    public static Uri BaseUri(string registry, IReadOnlySet<string> insecureRegistries)
    {
        var host = registry == ImageReference.DockerHub ? DockerHubApiHost : registry;
        var scheme = IsLoopback(registry) || insecureRegistries.Contains(registry) ? "http" : "https";
        return new Uri($"{scheme}://{host}/");
    }

    private static bool IsLoopback(string registry)
    {
        var host = registry.StartsWith('[') ? registry[..(registry.IndexOf(']') + 1)] : registry.Split(':')[0];
        return host is "localhost" or "127.0.0.1" or "[::1]";
    }
}
