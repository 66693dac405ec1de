using Outpost.Oci.Registry;

namespace Outpost.Oci.Tests.Registry;

public sealed class RegistryEndpointTests
{
    [Theory]
    [InlineData("docker.io", "https://registry-1.docker.io/")]
    [InlineData("ghcr.io", "https://ghcr.io/")]
    [InlineData("localhost:5000", "http://localhost:5000/")]
    [InlineData("localhost", "http://localhost/")]
    [InlineData("127.0.0.1:5000", "http://127.0.0.1:5000/")]
    [InlineData("[::1]:5000", "http://[::1]:5000/")]
    [InlineData("registry.lan:5000", "http://registry.lan:5000/")]
    public void Registry_name_maps_to_its_api_endpoint(string registry, string expected)
    {
        var insecure = new HashSet<string> { "registry.lan:5000" };
        Assert.Equal(new Uri(expected), RegistryEndpoint.BaseUri(registry, insecure));
    }

    [Fact]
    public void Bearer_challenge_parameters_keep_commas_inside_quotes()
    {
        var parameters = AuthChallenge.ParseParameters("realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"");

        Assert.Equal("https://auth.example/token", parameters["realm"]);
        Assert.Equal("registry.example", parameters["service"]);
        Assert.Equal("repository:a/b:pull,push", parameters["scope"]);
    }
}
