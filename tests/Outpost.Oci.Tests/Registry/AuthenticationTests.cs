using Outpost.Oci.Errors;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Tests.Infrastructure;

namespace Outpost.Oci.Tests.Registry;

/// <summary>A registry behind htpasswd basic auth, and the same registry behind a Bearer-token proxy.</summary>
public sealed class AuthenticationTests(BasicAuthRegistryFixture registry) : IClassFixture<BasicAuthRegistryFixture>
{
    private const string TokenUser = "robot";
    private const string TokenPassword = "token-pass";

    private RegistryClient ClientFor(string host, string user, string password) => new(new RegistryClientOptions
    {
        Credentials = new Dictionary<string, RegistryCredentials> { [host] = new(user, password) },
        InitialRetryDelay = TimeSpan.FromMilliseconds(10),
    });

    private RegistryClient BasicClient() => ClientFor(registry.Server.Host, BasicAuthRegistryFixture.User, BasicAuthRegistryFixture.Password);

    [Fact]
    public async Task Basic_auth_with_right_credentials_pushes_and_pulls()
    {
        using var client = BasicClient();
        var reference = ImageReference.Parse($"{registry.Server.Host}/outpost/basic:v1");
        var image = TestImage.Create([new LayerBuilder().File("a", "basic").Tar()]);

        var digest = await image.PushAsync(client, reference);
        var manifest = await client.GetManifestAsync(reference);

        Assert.Equal(digest, manifest.Digest);
        var inspected = await ExternalTool.RunAsync("skopeo", "inspect", "--tls-verify=false", "--raw",
            "--creds", $"{BasicAuthRegistryFixture.User}:{BasicAuthRegistryFixture.Password}", $"docker://{reference}");
        Assert.Equal(image.Manifest, System.Text.Encoding.UTF8.GetBytes(inspected.TrimEnd('\n')));
    }

    [Fact]
    public async Task Basic_auth_with_wrong_password_throws_registry_auth_exception()
    {
        using var client = ClientFor(registry.Server.Host, BasicAuthRegistryFixture.User, "wrong");
        var error = await Assert.ThrowsAsync<RegistryAuthException>(
            () => client.GetManifestAsync(ImageReference.Parse($"{registry.Server.Host}/outpost/basic:v1")));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.DoesNotContain("wrong", error.Message);
    }

    [Fact]
    public async Task Basic_auth_without_credentials_says_that_credentials_are_needed()
    {
        using var client = new RegistryClient();
        var error = await Assert.ThrowsAsync<RegistryAuthException>(
            () => client.GetManifestAsync(ImageReference.Parse($"{registry.Server.Host}/outpost/basic:v1")));
        Assert.Contains("none is configured", error.Message);
    }

    [Fact]
    public async Task Bearer_token_is_fetched_with_credentials_and_reused_for_later_requests()
    {
        using var pusher = BasicClient();
        var image = TestImage.Create([new LayerBuilder().File("a", "bearer").Tar()]);
        await image.PushAsync(pusher, ImageReference.Parse($"{registry.Server.Host}/outpost/bearer:v1"));
        await using var proxy = await StartTokenProxyAsync();
        using var client = new RegistryClient(new RegistryClientOptions
        {
            Credentials = new Dictionary<string, RegistryCredentials> { [proxy.Host] = new(TokenUser, TokenPassword) },
        });
        var reference = ImageReference.Parse($"{proxy.Host}/outpost/bearer:v1");

        var manifest = await client.ResolveImageAsync(reference);
        var config = await client.GetBlobBytesAsync(reference, manifest.ParsedManifest.Config);

        Assert.Equal(image.Config, config);
        Assert.Equal(image.ManifestDescriptor.Digest, manifest.Manifest.Digest);
        Assert.Equal(1, proxy.TokensIssued);
    }

    [Fact]
    public async Task Push_through_bearer_auth_asks_for_push_scope_and_lands_in_the_registry()
    {
        await using var proxy = await StartTokenProxyAsync();
        using var client = ClientFor(proxy.Host, TokenUser, TokenPassword);
        var image = TestImage.Create([new LayerBuilder().File("a", "bearer-push").Tar()]);

        var digest = await image.PushAsync(client, ImageReference.Parse($"{proxy.Host}/outpost/bearer-push:v1"));

        var inspected = await ExternalTool.RunAsync("skopeo", "inspect", "--tls-verify=false", "--raw",
            "--creds", $"{BasicAuthRegistryFixture.User}:{BasicAuthRegistryFixture.Password}", $"docker://{registry.Server.Host}/outpost/bearer-push:v1");
        Assert.Equal(image.ManifestDescriptor.Digest, digest);
        Assert.Equal(image.Manifest, System.Text.Encoding.UTF8.GetBytes(inspected.TrimEnd('\n')));
        Assert.Contains(proxy.TokenScopes, scope => scope == "repository:outpost/bearer-push:pull,push");
    }

    [Fact]
    public async Task Bearer_token_request_with_wrong_credentials_throws_registry_auth_exception()
    {
        await using var proxy = await StartTokenProxyAsync();
        using var client = ClientFor(proxy.Host, TokenUser, "nope");

        var error = await Assert.ThrowsAsync<RegistryAuthException>(
            () => client.GetManifestAsync(ImageReference.Parse($"{proxy.Host}/outpost/bearer:v1")));

        Assert.Contains("token service", error.Message);
        Assert.Equal(0, proxy.TokensIssued);
    }

    // The proxy demands its own Bearer tokens and logs in to the basic-auth registry behind it by itself.
    private Task<RegistryProxy> StartTokenProxyAsync() => RegistryProxy.StartAsync(
        registry.Server.Host,
        tokenCredentials: (TokenUser, TokenPassword),
        upstreamCredentials: (BasicAuthRegistryFixture.User, BasicAuthRegistryFixture.Password));
}
