namespace Outpost.Oci.Tests.Infrastructure;

/// <summary>One anonymous registry shared by a test class.</summary>
public sealed class RegistryFixture : IAsyncLifetime
{
    private RegistryServer? _server;

    public RegistryServer Server => _server ?? throw new InvalidOperationException("Registry not started.");

    public async Task InitializeAsync() => _server = await RegistryServer.StartAsync();

    public Task DisposeAsync()
    {
        _server?.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>One registry behind htpasswd basic auth (user <see cref="User"/>, password <see cref="Password"/>).</summary>
public sealed class BasicAuthRegistryFixture : IAsyncLifetime
{
    public const string User = "outpost";
    public const string Password = "s3cret-pass";
    private RegistryServer? _server;

    public RegistryServer Server => _server ?? throw new InvalidOperationException("Registry not started.");

    public async Task InitializeAsync()
    {
        // The registry only accepts bcrypt entries; htpasswd -B makes one.
        var line = await ExternalTool.RunAsync("htpasswd", "-B", "-b", "-n", User, Password);
        _server = await RegistryServer.StartAsync(line.Trim() + "\n");
    }

    public Task DisposeAsync()
    {
        _server?.Dispose();
        return Task.CompletedTask;
    }
}
