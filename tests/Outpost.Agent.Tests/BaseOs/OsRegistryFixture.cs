using System.Security.Cryptography;
using Outpost.Agent.Tests.Apps;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// One docker-registry per test class, the signing key the devices trust, the OS versions of the tests (0.1.0 is
/// what the disks are made with) and 0.2.0 and 0.3.0 pushed signed as outpost/os:VERSION.
/// </summary>
public sealed class OsRegistryFixture : IAsyncLifetime
{
    private TestRegistry? _registry;

    public static OsBuild V1 { get; } = OsBuild.Make(BaseOsScenario.V1, 2 * 1024 * 1024 + 13, 101);

    /// <summary>Three and a bit 1 MiB writes into the 4 MiB slot.</summary>
    public static OsBuild V2 { get; } = OsBuild.Make(BaseOsScenario.V2, 3 * 1024 * 1024 + 123, 202);

    public static OsBuild V3 { get; } = OsBuild.Make(BaseOsScenario.V3, 2 * 1024 * 1024 + 512 * 1024 + 7, 303);

    public ECDsa Key { get; } = OsImages.NewKey();

    public TestRegistry Registry => _registry!;

    public string Host => Registry.Host;

    public PushedOsImage V2Image { get; private set; } = null!;

    public PushedOsImage V3Image { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _registry = await TestRegistry.StartAsync();
        V2Image = await OsImages.PushAsync(Host, V2.Version, V2, Key);
        V3Image = await OsImages.PushAsync(Host, V3.Version, V3, Key);
    }

    public Task<PushedOsImage> PushAsync(string tag, OsBuild build, OsImageFlaw flaw = OsImageFlaw.None) => OsImages.PushAsync(Host, tag, build, Key, flaw);

    public Task DisposeAsync()
    {
        _registry?.Dispose();
        Key.Dispose();
        return Task.CompletedTask;
    }
}
