using System.Net;
using Npgsql;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Tests.Storage;

/// <summary>
/// The contract against a real PostgreSQL server (one throwaway cluster for the class, a fresh database per
/// test), plus what only a shared server store must do.
/// </summary>
public sealed class PostgresControllerStoreTests(PostgresServer server) : ControllerStoreContract, IClassFixture<PostgresServer>
{
    private string _connectionString = "";

    protected override async Task CreateDatabaseAsync() => _connectionString = await server.CreateDatabaseAsync();

    protected override IControllerStore OpenStore() => new PostgresControllerStore(_connectionString);

    [Fact]
    public async Task Controllers_starting_together_on_a_new_database_all_create_the_schema()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var stores = Enumerable.Range(0, 4).Select(_ => new PostgresControllerStore(connectionString)).ToList();
        try
        {
            await Task.WhenAll(stores.Select(store => Task.Run(() => store.InitializeAsync(CancellationToken.None))));

            foreach (var store in stores)
            {
                Assert.Empty(await store.ListDevicesAsync(CancellationToken.None));
            }
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("postgres://{user}@127.0.0.1:{port}/{db}")]
    [InlineData("postgresql://{user}:unused%40password@127.0.0.1:{port}/{db}?Timeout=10")]
    [InlineData("postgres:Host=127.0.0.1;Port={port};Username={user};Database={db}")]
    public async Task Store_option_connects_to_the_server(string template)
    {
        var database = new NpgsqlConnectionStringBuilder(await server.CreateDatabaseAsync()).Database!;
        var option = template.Replace("{user}", server.User).Replace("{port}", server.Port.ToString()).Replace("{db}", database);
        await using var store = StoreFactory.Create(new ControllerOptions("/nonexistent", new IPEndPoint(IPAddress.Loopback, 0)) { StoreConnection = option });
        Assert.IsType<PostgresControllerStore>(store);

        await store.InitializeAsync(CancellationToken.None);
        var datastore = new DatastoreRecord(Guid.NewGuid(), "registry", "docker://registry.local", null, null, null);
        await store.SaveDatastoreAsync(datastore, CancellationToken.None);

        Assert.Equal([datastore], await store.ListDatastoresAsync(CancellationToken.None));
    }
}
