using Microsoft.Data.Sqlite;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Tests.Storage;

/// <summary>The contract against the embedded store: a SQLite file in a temp directory per test.</summary>
public sealed class SqliteControllerStoreTests : ControllerStoreContract
{
    private readonly string _directory = Directory.CreateTempSubdirectory("outpost-sqlite-store-").FullName;

    protected override Task CreateDatabaseAsync() => Task.CompletedTask;

    protected override IControllerStore OpenStore() => new SqliteControllerStore(Path.Combine(_directory, "controller.db"));

    protected override Task DeleteDatabaseAsync()
    {
        // Pooled connections keep the WAL files open; release them before deleting.
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }
}
